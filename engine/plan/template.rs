//! Session-name and message templates (minijinja, strict about undefined variables).

use std::fmt;

use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use super::model::Session;
use super::simple_template::{Scalar, SimpleTemplate};

/// The compiled message templates of a plan, by name.
pub struct Templates {
    env: Environment<'static>,
    names: Vec<String>,
    /// The templates that are only text and lookups, by name: rendered without the engine
    /// when the caller answers their lookups (`simple_template.rs`).
    simple: std::collections::HashMap<String, SimpleTemplate>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").field("names", &self.names).finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// The work one rendering may do: far more than any message or name template needs, far less
/// than nested `range(100000)` loops, which would hold `check` for minutes.
const FUEL: u64 = 200_000;
/// The longest text one rendering may produce.
const MAX_OUTPUT: usize = 1 << 20;

/// A fresh environment with the settings every herd template uses.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A typo in a variable name must be an error, not an empty string in every message.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

/// Makes every top-level key of `globals` (`vars`, `env`) a global of `env`.
fn add_globals(env: &mut Environment<'static>, globals: &serde_json::Value) {
    if let Some(map) = globals.as_object() {
        for (k, v) in map {
            env.add_global(k.clone(), Value::from(minijinja::value::Serde(v.clone())));
        }
    }
}

/// Refuses an output over `MAX_OUTPUT`.
fn bounded(text: String) -> Result<String, String> {
    if text.len() > MAX_OUTPUT {
        return Err(format!("the template renders {} bytes, more than the 1 MiB allowed", text.len()));
    }
    Ok(text)
}

/// Explains a minijinja error in one line, with the position inside the template when known.
pub(crate) fn explain(e: &minijinja::Error) -> String {
    if e.kind() == minijinja::ErrorKind::OutOfFuel {
        return format!("the template does too much work (more than {FUEL} steps); simplify its loops");
    }
    let mut text = e.kind().to_string();
    if let Some(detail) = e.detail() {
        text = format!("{text}: {detail}");
    }
    text
}

impl Templates {
    /// An empty set.
    pub fn new() -> Self {
        Self { env: environment(), names: Vec::new(), simple: Default::default() }
    }

    /// An empty set whose templates see `globals` (`vars`, `env`) besides their context.
    pub(crate) fn with_globals(globals: &serde_json::Value) -> Self {
        let mut env = environment();
        add_globals(&mut env, globals);
        Self { env, names: Vec::new(), simple: Default::default() }
    }

    /// Adds a template, checking its syntax.
    pub(crate) fn add(&mut self, name: &str, source: &str) -> Result<(), String> {
        self.env.add_template_owned(name.to_owned(), source.to_owned()).map_err(|e| explain(&e))?;
        self.names.push(name.to_owned());
        // A name the engine would auto-escape (`.html`, `.json`, ...) is left to the engine.
        if minijinja::default_auto_escape_callback(name) == minijinja::AutoEscape::None
            && let Some(simple) = SimpleTemplate::parse(source)
        {
            self.simple.insert(name.to_owned(), simple);
        }
        Ok(())
    }

    /// Renders template `name`, reading its variables through `lookup` when it is only text and
    /// lookups that `lookup` answers, and otherwise with the engine on the context `ctx` makes
    /// (made only then). Both render the same text (`simple_template.rs`).
    pub(crate) fn render_with<'a>(
        &self,
        name: &str,
        lookup: impl Fn(&[Box<str>]) -> Option<Scalar<'a>>,
        ctx: impl FnOnce() -> Value,
    ) -> Result<String, String> {
        if let Some(text) = self.simple.get(name).and_then(|t| t.render(lookup)) {
            return bounded(text);
        }
        self.render_value(name, &ctx())
    }

    /// The names of the templates that start with `prefix`, in the order they were added.
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.names.iter().filter(|n| n.starts_with(prefix)).cloned().collect()
    }

    /// Whether template `name` sees a session only through its client, project and user ids
    /// (besides constants), so that it renders the same text for every session that shares
    /// them and can be rendered once per distinct ids.
    pub(crate) fn session_ids_only(&self, name: &str) -> bool {
        let Ok(tmpl) = self.env.get_template(name) else { return false };
        tmpl.undeclared_variables(true).iter().all(|v| match v.split_once('.') {
            Some(("session", field)) => matches!(field, "client" | "project" | "user"),
            None => v != "session",
            Some(_) => true,
        })
    }

    /// Renders a template with a context already made a value: a message whose body, group id
    /// and attributes are all templates converts its context once, not once per template.
    pub fn render_value(&self, name: &str, ctx: &Value) -> Result<String, String> {
        let tmpl = self.env.get_template(name).map_err(|e| explain(&e))?;
        tmpl.render(ctx).map_err(|e| explain(&e)).and_then(bounded)
    }

    /// Renders a template with a serialisable context.
    pub fn render<S: Serialize>(&self, name: &str, ctx: &S) -> Result<String, String> {
        let tmpl = self.env.get_template(name).map_err(|e| explain(&e))?;
        tmpl.render(Value::from(minijinja::value::Serde(ctx))).map_err(|e| explain(&e)).and_then(bounded)
    }
}

/// One template rendered many times (a session group's names): parsed once, and text without
/// template syntax is not rendered at all.
pub(crate) struct OneTemplate {
    env: Environment<'static>,
    constant: Option<String>,
}

impl OneTemplate {
    /// Parses `source`, which also sees `globals` (`vars`, `env`); `Err` says why it is not a
    /// template.
    pub(crate) fn new(source: &str, globals: &serde_json::Value) -> Result<Self, String> {
        let mut env = environment();
        add_globals(&mut env, globals);
        if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            return Ok(Self { env, constant: Some(source.to_owned()) });
        }
        env.add_template_owned("template", source.to_owned()).map_err(|e| explain(&e))?;
        Ok(Self { env, constant: None })
    }

    /// Renders it with a context that is already a value.
    pub(crate) fn render_value(&self, ctx: Value) -> Result<String, String> {
        if let Some(text) = &self.constant {
            return Ok(text.clone());
        }
        let tmpl = self.env.get_template("template").map_err(|e| explain(&e))?;
        tmpl.render(ctx).map_err(|e| explain(&e)).and_then(bounded)
    }
}

/// Renders a one-off template (session names) with a serialisable context.
pub(crate) fn render_once<S: Serialize>(source: &str, ctx: &S) -> Result<String, String> {
    let env = environment();
    env.render_str(source, Value::from(minijinja::value::Serde(ctx))).map_err(|e| explain(&e)).and_then(bounded)
}

/// What a message template can refer to.
#[derive(Debug, Clone, Serialize)]
pub struct MessageContext<'a> {
    /// The session.
    pub session: SessionContext<'a>,
    /// The message.
    pub message: MessageVars,
    /// The phase.
    pub phase: PhaseVars<'a>,
}

impl<'a> MessageContext<'a> {
    /// The context of one message of `session` in phase `phase`.
    pub fn new(session: &'a Session, group: &'a str, message: MessageVars, phase: &'a str) -> Self {
        Self {
            session: SessionContext {
                client: &session.client,
                project: &session.project,
                user: &session.user,
                thread: &session.thread,
                index: session.group_index,
                group,
                data: &session.data,
            },
            message,
            phase: PhaseVars { name: phase },
        }
    }
}

/// A message template's context as a value that hands out only what the template reads: the
/// session's ids are looked up in the plan when asked for, rather than every field of the
/// session, the message and the phase being copied into a map for every message (a third of a
/// simulated run's time went to that). Reads the same as `MessageContext` serialised.
pub(crate) fn message_value(
    sessions: &std::sync::Arc<Vec<Session>>,
    session: usize,
    group: &Value,
    message: &MessageVars,
    phase: &Value,
) -> Value {
    let data = Value::from(minijinja::value::Serde(&message.data));
    let message = minijinja::context! {
        seq => message.seq,
        iteration => message.iteration,
        id => message.id.as_str(),
        data => data,
    };
    let session =
        Value::from_object(SessionObject { sessions: sessions.clone(), index: session, group: group.clone() });
    minijinja::context! { session => session, message => message, phase => phase.clone() }
}

/// A message template's lookup (`simple_template.rs`), answering what `message_value` holds
/// with a string or an unsigned integer, read straight from the session and the message.
pub(crate) fn message_lookup<'a>(
    session: &'a Session,
    group: &'a str,
    message: &'a MessageVars,
    phase: &'a str,
    path: &[Box<str>],
) -> Option<Scalar<'a>> {
    let path: [&str; 3] = match path {
        [a, b] => [a, b, ""],
        [a, b, c] => [a, b, c],
        _ => return None,
    };
    Some(match path {
        ["session", "client", ""] => Scalar::Str(&session.client),
        ["session", "project", ""] => Scalar::Str(&session.project),
        ["session", "user", ""] => Scalar::Str(&session.user),
        ["session", "thread", ""] => Scalar::Str(&session.thread),
        ["session", "index", ""] => Scalar::Uint(session.group_index as u64),
        ["session", "group", ""] => Scalar::Str(group),
        ["session", "data", col] if !col.is_empty() => Scalar::Str(session.data.get(col)?),
        ["message", "seq", ""] => Scalar::Uint(message.seq),
        ["message", "iteration", ""] => Scalar::Uint(message.iteration),
        ["message", "id", ""] => Scalar::Str(&message.id),
        ["message", "data", col] if !col.is_empty() => Scalar::Str(message.data.get(col)?),
        ["phase", "name", ""] => Scalar::Str(phase),
        _ => return None,
    })
}

/// `phase.*` of a message template, made once per phase.
pub(crate) fn phase_value(name: &str) -> Value {
    minijinja::context! { name => name }
}

/// `session.*` of a message template, read from the plan's session on demand.
#[derive(Debug)]
struct SessionObject {
    sessions: std::sync::Arc<Vec<Session>>,
    index: usize,
    group: Value,
}

impl minijinja::value::Object for SessionObject {
    fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
        let s = self.sessions.get(self.index)?;
        Some(match key.as_str()? {
            "client" => Value::from(&*s.client),
            "project" => Value::from(&*s.project),
            "user" => Value::from(&*s.user),
            "thread" => Value::from(s.thread.as_str()),
            "index" => Value::from(s.group_index),
            "group" => self.group.clone(),
            "data" => Value::from(minijinja::value::Serde(&s.data)),
            _ => return None,
        })
    }

    fn enumerate(self: &std::sync::Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(&["client", "project", "user", "thread", "index", "group", "data"])
    }
}

/// `session.*` in a message template.
#[derive(Debug, Clone, Serialize)]
pub struct SessionContext<'a> {
    /// Client id.
    pub client: &'a str,
    /// Project id.
    pub project: &'a str,
    /// User id.
    pub user: &'a str,
    /// Thread id.
    pub thread: &'a str,
    /// Index within its group.
    pub index: usize,
    /// Group name.
    pub group: &'a str,
    /// The session's row of its group's data file.
    pub data: &'a std::collections::BTreeMap<String, String>,
}

/// `message.*` in a message template.
#[derive(Debug, Clone, Serialize)]
pub struct MessageVars {
    /// Run-wide sequence number from 0.
    pub seq: u64,
    /// Per-session iteration from 0.
    pub iteration: u64,
    /// A fresh uuid.
    pub id: String,
    /// The message's row of the message table's data file (`from`), if it has one.
    pub data: std::collections::BTreeMap<String, String>,
}

/// `phase.*` in a message template.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseVars<'a> {
    /// Phase name.
    pub name: &'a str,
}

/// What the aws target's templates (queue names, bodies, group ids) can refer to.
#[derive(Debug, Clone, Serialize)]
pub struct TargetContext {
    /// The session.
    pub session: OwnedSession,
    /// The message.
    pub message: TargetMessageVars,
    /// The phase.
    pub phase: OwnedPhase,
    /// Milliseconds since the Unix epoch when the message is sent.
    pub timestamp_ms: u64,
    /// The same instant, RFC 3339.
    pub timestamp: String,
    /// URL of the session's work queue (for claim requests).
    pub work_queue_url: String,
}

/// What a target template's lookup (`simple_template.rs`) reads: the parts of a
/// [`TargetContext`], borrowed rather than copied, with the RFC 3339 time made only if read.
pub(crate) struct TargetLookup<'a> {
    pub session: &'a Session,
    pub id: &'a str,
    pub seq: u64,
    pub iteration: u64,
    pub instruction: &'a str,
    pub fields: &'a [(String, String)],
    pub data: &'a std::collections::BTreeMap<String, String>,
    pub phase: &'a str,
    pub now: std::time::SystemTime,
    pub work_queue_url: &'a str,
    /// `timestamp`, once read.
    pub timestamp: std::cell::OnceCell<String>,
}

/// A target template's lookup: answers what the serialised [`TargetContext`] holds with a string
/// or an unsigned integer.
pub(crate) fn target_lookup<'a>(cx: &'a TargetLookup<'a>, path: &[Box<str>]) -> Option<Scalar<'a>> {
    let path: [&str; 3] = match path {
        [a] => [a, "", ""],
        [a, b] => [a, b, ""],
        [a, b, c] => [a, b, c],
        _ => return None,
    };
    let s = cx.session;
    Some(match path {
        ["session", "client", ""] => Scalar::Str(&s.client),
        ["session", "project", ""] => Scalar::Str(&s.project),
        ["session", "user", ""] => Scalar::Str(&s.user),
        ["session", "thread", ""] => Scalar::Str(&s.thread),
        ["session", "index", ""] => Scalar::Uint(s.group_index as u64),
        ["session", "data", col] if !col.is_empty() => Scalar::Str(s.data.get(col)?),
        ["message", "id", ""] => Scalar::Str(cx.id),
        ["message", "seq", ""] => Scalar::Uint(cx.seq),
        ["message", "iteration", ""] => Scalar::Uint(cx.iteration),
        ["message", "instruction", ""] => Scalar::Str(cx.instruction),
        // As the context's map holds them: the last of a repeated key.
        ["message", "fields", key] if !key.is_empty() => {
            Scalar::Str(&cx.fields.iter().rev().find(|(k, _)| k == key)?.1)
        }
        ["message", "data", col] if !col.is_empty() => Scalar::Str(cx.data.get(col)?),
        ["phase", "name", ""] => Scalar::Str(cx.phase),
        ["timestamp_ms", "", ""] => Scalar::Uint(timestamp_ms(cx.now)),
        ["timestamp", "", ""] => Scalar::Str(cx.timestamp.get_or_init(|| rfc3339_millis(cx.now))),
        ["work_queue_url", "", ""] => Scalar::Str(cx.work_queue_url),
        _ => return None,
    })
}

/// Milliseconds since the Unix epoch (0 before it).
fn timestamp_ms(now: std::time::SystemTime) -> u64 {
    now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn rfc3339_millis(now: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(now).to_string()
}

/// A data row that has every column, for checking templates at load time.
#[derive(Debug)]
struct AnyColumn;

impl minijinja::value::Object for AnyColumn {
    fn get_value(self: &std::sync::Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Value::from("0"))
    }
}

/// `session.*` for target templates.
#[derive(Debug, Clone, Serialize)]
pub struct OwnedSession {
    /// Client id (shared with the plan's session).
    pub client: std::sync::Arc<str>,
    /// Project id.
    pub project: std::sync::Arc<str>,
    /// User id.
    pub user: std::sync::Arc<str>,
    /// Thread id.
    pub thread: String,
    /// Index within its group.
    pub index: usize,
    /// Its row of the group's data file.
    pub data: std::collections::BTreeMap<String, String>,
}

/// `phase.*` for target templates.
#[derive(Debug, Clone, Serialize)]
pub struct OwnedPhase {
    /// Phase name.
    pub name: String,
}

/// `message.*` for target templates.
#[derive(Debug, Clone, Serialize)]
pub struct TargetMessageVars {
    /// Correlation id (commandId, messageId, task token).
    pub id: String,
    /// Run-wide sequence number.
    pub seq: u64,
    /// Per-session iteration.
    pub iteration: u64,
    /// The rendered instruction.
    pub instruction: String,
    /// The rendered extra fields.
    pub fields: std::collections::BTreeMap<String, String>,
    /// The message's row of its message table's data file, if it has one.
    pub data: std::collections::BTreeMap<String, String>,
}

impl TargetContext {
    /// The context of one message.
    pub fn new(
        session: &Session,
        message: TargetMessageVars,
        phase: &str,
        now: std::time::SystemTime,
        work_queue_url: &str,
    ) -> Self {
        let ms = timestamp_ms(now);
        Self {
            session: OwnedSession {
                client: session.client.clone(),
                project: session.project.clone(),
                user: session.user.clone(),
                thread: session.thread.clone(),
                index: session.group_index,
                data: session.data.clone(),
            },
            message,
            phase: OwnedPhase { name: phase.to_owned() },
            timestamp_ms: ms,
            timestamp: rfc3339_millis(now),
            work_queue_url: work_queue_url.to_owned(),
        }
    }

    /// This context for checking a template at load time: `message.data.*` answers `"0"` for
    /// any column, since which message tables feed the body is only known per message (a column
    /// missing at run time stops the run, naming it).
    pub fn sample_value(&self) -> Value {
        let message = minijinja::context! {
            data => Value::from_object(AnyColumn),
            ..Value::from(minijinja::value::Serde(&self.message))
        };
        minijinja::context! { message => message, ..Value::from(minijinja::value::Serde(self)) }
    }

    /// A context for checking templates at load time.
    pub fn sample(session: &Session, work_queue_url: &str) -> Self {
        let message = TargetMessageVars {
            id: "00000000-0000-0000-0000-000000000000".into(),
            seq: 0,
            iteration: 0,
            instruction: "sample instruction".into(),
            fields: Default::default(),
            data: Default::default(),
        };
        Self::new(session, message, "phase", std::time::UNIX_EPOCH, work_queue_url)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// The lazy message context reads exactly as the serialised `MessageContext` it replaces,
    /// field by field, and refuses an unknown key as strictly.
    #[test]
    fn the_lazy_message_context_reads_as_the_serialised_one() {
        let mut data = std::collections::BTreeMap::new();
        data.insert("page".to_owned(), "home".to_owned());
        let session = Session {
            index: 0,
            group: 0,
            group_index: 3,
            client: "c".into(),
            project: "p".into(),
            user: "u".into(),
            thread: "t-3".into(),
            data: data.clone(),
        };
        let sessions = Arc::new(vec![session]);
        let vars = MessageVars { seq: 7, iteration: 2, id: "abc".into(), data };
        let mut t = Templates::new();
        let everything = "{{ session.client }}/{{ session.project }}/{{ session.user }}/{{ session.thread }}/\
            {{ session.index }}/{{ session.group }}/{{ session.data.page }}/{{ message.seq }}/{{ message.iteration }}/\
            {{ message.id }}/{{ message.data.page }}/{{ phase.name }}/{{ session | length }}";
        t.add("all", everything).unwrap();
        t.add("typo", "{{ session.projekt }}").unwrap();
        let serialised = MessageContext::new(&sessions[0], "g", vars.clone(), "warm-up");
        let lazy = message_value(&sessions, 0, &Value::from("g"), &vars, &phase_value("warm-up"));
        let expected = t.render("all", &serialised).unwrap();
        assert_eq!(expected, "c/p/u/t-3/3/g/home/7/2/abc/home/warm-up/7");
        assert_eq!(t.render_value("all", &lazy).unwrap(), expected);
        assert!(t.render("typo", &serialised).is_err());
        assert!(t.render_value("typo", &lazy).is_err(), "an unknown key is an error, not an empty string");
    }

    fn session() -> Session {
        let mut data = std::collections::BTreeMap::new();
        data.insert("page".to_owned(), "home \"<&>\"".to_owned());
        Session {
            index: 0,
            group: 0,
            group_index: 3,
            client: "c".into(),
            project: "p".into(),
            user: "u".into(),
            thread: "t-3".into(),
            data,
        }
    }

    /// Renders `{{ path }}` and `{{ path | tojson }}` for every path both ways: through the
    /// lookup (which must answer it, or the fast path would never be taken) and through the
    /// engine with the serialised context.
    fn compare<'a>(paths: &[&str], lookup: impl Fn(&[Box<str>]) -> Option<Scalar<'a>>, serialised: &impl Serialize) {
        for path in paths {
            for source in [format!("{{{{ {path} }}}}"), format!("<{{{{ {path} | tojson }}}}>")] {
                let mut t = Templates::new();
                t.add("x", &source).unwrap();
                let segments: Vec<Box<str>> = path.split('.').map(Box::from).collect();
                assert!(lookup(&segments).is_some(), "{path} is answered by the lookup");
                let fast = t.render_with("x", &lookup, || panic!("{source} needed the engine")).unwrap();
                assert_eq!(fast, t.render("x", serialised).unwrap(), "{source}");
            }
        }
    }

    /// Every variable of a message template reads the same through the lookup as through the
    /// serialised `MessageContext`; what the lookup does not know goes to the engine.
    #[test]
    fn message_lookups_read_as_the_serialised_context() {
        let s = session();
        let mut data = std::collections::BTreeMap::new();
        data.insert("col".to_owned(), "v\n".to_owned());
        let vars = MessageVars { seq: 7, iteration: 2, id: "abc".into(), data };
        let lookup = |path: &[Box<str>]| message_lookup(&s, "g", &vars, "warm-up", path);
        let serialised = MessageContext::new(&s, "g", vars.clone(), "warm-up");
        compare(
            &[
                "session.client",
                "session.project",
                "session.user",
                "session.thread",
                "session.index",
                "session.group",
                "session.data.page",
                "message.seq",
                "message.iteration",
                "message.id",
                "message.data.col",
                "phase.name",
            ],
            lookup,
            &serialised,
        );
        let mut t = Templates::new();
        t.add("typo", "{{ message.dat.col }}").unwrap();
        t.add("missing", "{{ message.data.nope }}").unwrap();
        let sessions = Arc::new(vec![s.clone()]);
        let ctx = || message_value(&sessions, 0, &Value::from("g"), &vars, &phase_value("warm-up"));
        assert!(t.render_with("typo", lookup, ctx).is_err(), "an unknown key is still an error");
        assert!(t.render_with("missing", lookup, ctx).is_err(), "a missing column is still an error");
    }

    /// The same for the aws target's templates and `TargetContext`.
    #[test]
    fn target_lookups_read_as_the_serialised_context() {
        let s = session();
        let fields = vec![("kind".to_owned(), "a".to_owned()), ("kind".to_owned(), "b'".to_owned())];
        let data: std::collections::BTreeMap<String, String> = [("col".to_owned(), "1".to_owned())].into();
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_767_225_600_123);
        let cx = TargetLookup {
            session: &s,
            id: "id-1",
            seq: 9,
            iteration: 4,
            instruction: "say \"hi\"\n",
            fields: &fields,
            data: &data,
            phase: "main",
            now,
            work_queue_url: "http://127.0.0.1:1/q",
            timestamp: Default::default(),
        };
        let vars = TargetMessageVars {
            id: "id-1".into(),
            seq: 9,
            iteration: 4,
            instruction: "say \"hi\"\n".into(),
            fields: fields.iter().cloned().collect(),
            data: data.clone(),
        };
        let serialised = TargetContext::new(&s, vars, "main", now, "http://127.0.0.1:1/q");
        compare(
            &[
                "session.client",
                "session.project",
                "session.user",
                "session.thread",
                "session.index",
                "session.data.page",
                "message.id",
                "message.seq",
                "message.iteration",
                "message.instruction",
                "message.fields.kind",
                "message.data.col",
                "phase.name",
                "timestamp_ms",
                "timestamp",
                "work_queue_url",
            ],
            |path| target_lookup(&cx, path),
            &serialised,
        );
        // `session.group` is not in the target's context: the lookup does not invent it.
        assert!(target_lookup(&cx, &[Box::from("session"), Box::from("group")]).is_none());
    }
}
