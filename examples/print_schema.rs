fn main() {
    println!("{}", serde_json::to_string_pretty(herd::scenario::scenario_schema()).unwrap());
}
