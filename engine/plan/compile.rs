//! The one place that turns scenario text into meaning. Every check runs and every error is
//! collected, so a user fixes a file in one pass.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::distribution::Distribution;
use super::model::*;
use super::template::{MessageContext, MessageVars, OneTemplate, Templates};
use super::threshold::{parse_key, parse_rule};
use super::units::{parse_duration, parse_percent, parse_rate, parse_size};
use crate::metrics::Metric;
use crate::outputs::compile_cloudwatch;
use crate::scenario::{
    ArrivalsSpec, DataOrderSpec, Diagnostic, FaultSpec, FileDiagnostics, IterationOrderSpec, KeyPath, LoadFailure,
    LoadedScenario, MessageSpec, PhaseRoleSpec, PhaseSpec, ScenarioSpec, nearest,
};
use crate::targets::{CompiledTarget, TargetCompileCx, default_target_spec};

const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(3600);
const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(300);
const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(10);
const MAX_SESSIONS: i64 = 100_000;
/// The most messages a plan may send without `allow_large`.
const MAX_MESSAGES: u64 = 50_000_000;
/// The longest run without `allow_large`.
const MAX_RUN: Duration = Duration::from_secs(31 * 24 * 3600);
/// How to lift the safety limits, for their errors.
const LIFT_LIMITS: &str =
    "to go over it on purpose, set `allow_large = true` at the top of the file or pass --allow-large";
/// What a session-name template may use, for its errors.
const SESSION_TEMPLATE_HELP: &str = "session templates can use `i` (index in the group), `n` (index in the scenario), `group`, `data.*` (with `from`) and `vars.*`";
/// The longest client, project, user or thread id.
const MAX_ID_CHARS: usize = 80;

/// One shared copy of each distinct client, project and user id.
#[derive(Default)]
struct Interner(std::collections::HashMap<String, std::sync::Arc<str>>);

impl Interner {
    fn get(&mut self, id: String) -> std::sync::Arc<str> {
        if let Some(shared) = self.0.get(&id) {
            return shared.clone();
        }
        let shared: std::sync::Arc<str> = id.as_str().into();
        self.0.insert(id, shared.clone());
        shared
    }
}

fn hash_of(text: &str) -> u64 {
    use std::hash::BuildHasher;
    // A fixed-key hasher: the map only needs to spread ids, never to resist an attacker (the
    // scenario's author chooses the ids and a collision costs one string comparison).
    std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(text)
}

/// Whether a rendered id is refused: empty, with a control character, or too long (ids reach
/// queue names, terminals and reports).
fn bad_id(id: &str) -> bool {
    id.trim().is_empty() || id.chars().any(char::is_control) || id.chars().count() > MAX_ID_CHARS
}

/// The most sessions a plan may have without `allow_large`.
const MAX_TOTAL_SESSIONS: usize = 1_000_000;

/// What the command line adds to a scenario's own keys when compiling it.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Lift the safety limits (`herd run --allow-large`), as `allow_large = true` in the file
    /// does.
    pub allow_large: bool,
    /// `--set` overrides (and `--vars` files, as `vars.name=value` sets).
    pub overrides: crate::scenario::Overrides,
}

/// Loads and compiles a scenario file, reporting the errors of both steps in one pass: when the
/// file has structural errors, the rest of it is still compiled and its errors are added.
pub fn load_and_compile(path: &std::path::Path) -> Result<Plan, FileDiagnostics> {
    load_and_compile_with(path, &CompileOptions::default())
}

/// [`load_and_compile`] with options from the command line.
pub fn load_and_compile_with(path: &std::path::Path, options: &CompileOptions) -> Result<Plan, FileDiagnostics> {
    match crate::scenario::load_file_with(path, &options.overrides) {
        Ok(loaded) => compile_with(&loaded, options),
        Err(LoadFailure { mut diagnostics, recovered }) => {
            if let Some(loaded) = recovered
                && let Err(more) = compile_with(&loaded, options)
            {
                // A pruned key can cause a follow-on error (a missing value); keep only errors
                // about other keys.
                let pruned: Vec<KeyPath> = diagnostics.items.iter().map(|d| d.path.clone()).collect();
                diagnostics.items.extend(
                    more.items
                        .into_iter()
                        .filter(|d| !pruned.iter().any(|p| d.path.0.starts_with(&p.0) || p.0.starts_with(&d.path.0))),
                );
                crate::scenario::sort_items(&mut diagnostics.items);
            }
            Err(diagnostics)
        }
    }
}

/// Compiles a loaded scenario into a plan, or returns every error found.
pub fn compile(loaded: &LoadedScenario) -> Result<Plan, FileDiagnostics> {
    compile_with(loaded, &CompileOptions::default())
}

/// [`compile`] with options from the command line.
pub fn compile_with(loaded: &LoadedScenario, options: &CompileOptions) -> Result<Plan, FileDiagnostics> {
    let base_dir = std::path::Path::new(&loaded.file).parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let mut c = Compiler {
        errors: Vec::new(),
        allow_large: options.allow_large,
        base_dir,
        message_data: BTreeMap::new(),
        data_files: Vec::new(),
    };
    let mut plan = c.scenario(&loaded.spec, &loaded.file, &loaded.params);
    plan.inputs = std::iter::once(&loaded.file)
        .chain(&loaded.sources)
        .map(std::path::PathBuf::from)
        .chain(std::mem::take(&mut c.data_files))
        .collect();
    if c.errors.is_empty() { Ok(plan) } else { Err(loaded.diagnostics(c.errors)) }
}

/// Collects every error of one scenario and parses its values; target compile steps get it
/// through their `TargetCompileCx`.
pub(crate) struct Compiler {
    pub(crate) errors: Vec<Diagnostic>,
    allow_large: bool,
    /// The scenario file's folder: data files are relative to it.
    base_dir: std::path::PathBuf,
    /// Rows that feed message tables, by owner.
    message_data: BTreeMap<String, MessageData>,
    /// Every data file read, as read (a distributed run ships them to its workers).
    data_files: Vec<std::path::PathBuf>,
}

/// What a session-name template sees: `i`, `n`, `group` and `data`. An object the template
/// asks for what it uses, rather than a map built for every session (a million sessions render
/// two or three million names).
#[derive(Debug)]
struct SessionNameCtx {
    i: usize,
    n: usize,
    group: minijinja::Value,
    /// The session's row of the group's data file.
    data: minijinja::Value,
}

impl minijinja::value::Object for SessionNameCtx {
    fn get_value(self: &std::sync::Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        match key.as_str()? {
            "i" => Some(minijinja::Value::from(self.i)),
            "n" => Some(minijinja::Value::from(self.n)),
            "group" => Some(self.group.clone()),
            "data" => Some(self.data.clone()),
            _ => None,
        }
    }

    fn enumerate(self: &std::sync::Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(&["i", "n", "group", "data"])
    }
}

fn root() -> KeyPath {
    KeyPath::root()
}

impl Compiler {
    pub(crate) fn err(&mut self, path: KeyPath, message: impl Into<String>) -> &mut Diagnostic {
        let label = path.last_key().map(|k| format!("invalid `{k}`")).unwrap_or_else(|| "here".into());
        self.errors.push(Diagnostic::at(path, message).label(label));
        let last = self.errors.len() - 1;
        &mut self.errors[last]
    }

    pub(crate) fn err_help(&mut self, path: KeyPath, message: impl Into<String>, help: impl Into<String>) {
        let d = self.err(path, message);
        d.help = Some(help.into());
    }

    pub(crate) fn duration(&mut self, path: KeyPath, text: Option<&str>, default: Duration) -> Duration {
        match text {
            None => default,
            Some(t) => match parse_duration(t) {
                Ok(d) => d,
                Err(e) => {
                    self.err(path, e);
                    default
                }
            },
        }
    }

    pub(crate) fn positive_duration(&mut self, path: KeyPath, text: &str) -> Duration {
        let d = self.duration(path.clone(), Some(text), Duration::ZERO);
        if d.is_zero() && parse_duration(text).is_ok() {
            self.err(path, format!("\"{text}\" must be longer than zero"));
        }
        d
    }

    pub(crate) fn distribution(&mut self, path: KeyPath, text: Option<&str>, default: &str) -> Distribution {
        let t = text.unwrap_or(default);
        match Distribution::parse(t) {
            Ok(d) => d,
            Err(e) => {
                self.err(path, e);
                Distribution::parse(default).unwrap_or(Distribution::Fixed { value: Duration::ZERO })
            }
        }
    }

    pub(crate) fn size(&mut self, path: KeyPath, text: Option<&str>, default: u64) -> u64 {
        match text.map(parse_size) {
            None => default,
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                self.err(path, e);
                default
            }
        }
    }

    pub(crate) fn percent(&mut self, path: KeyPath, text: Option<&str>, default: f64) -> f64 {
        match text.map(parse_percent) {
            None => default,
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                self.err(path, e);
                default
            }
        }
    }

    pub(crate) fn count(&mut self, path: KeyPath, value: i64, min: i64, max: i64) -> u64 {
        if value < min || value > max {
            let what = if value < 0 {
                "is negative"
            } else if value < min {
                "is too small"
            } else {
                "is too large"
            };
            self.err_help(
                path.clone(),
                format!("`{}` = {value} {what}", path.last_key().unwrap_or("value")),
                format!("accepted: a whole number from {min} to {max}"),
            );
            return min.max(0) as u64;
        }
        value as u64
    }

    fn scenario(&mut self, spec: &ScenarioSpec, file: &str, params: &crate::scenario::Params) -> Plan {
        let globals = params.globals();
        if !crate::scenario::valid_scenario_name(&spec.name) {
            self.err_help(
                root().key("name"),
                format!("scenario name \"{}\" cannot be used as a folder name", spec.name),
                "accepted: lower-case letters, digits, `-` and `_`, e.g. \"load-100-sessions\"",
            );
        }
        let max_duration =
            self.duration(root().key("max_duration"), spec.max_duration.as_deref(), DEFAULT_MAX_DURATION);
        if max_duration.is_zero() {
            self.err(root().key("max_duration"), "`max_duration` must be longer than zero");
        }
        let reply_timeout =
            self.duration(root().key("reply_timeout"), spec.reply_timeout.as_deref(), DEFAULT_REPLY_TIMEOUT);
        let sample_interval =
            self.duration(root().key("sample_interval"), spec.sample_interval.as_deref(), DEFAULT_SAMPLE_INTERVAL);
        if sample_interval < Duration::from_millis(100) {
            self.err_help(
                root().key("sample_interval"),
                "`sample_interval` is shorter than 100ms",
                "sampling that often only inflates the summary; use e.g. \"1s\" or \"10s\"",
            );
        }
        let (groups, sessions) = self.sessions(spec, file, &globals);
        let mut templates = Templates::with_globals(&globals);
        let target = {
            let default = default_target_spec();
            let spec = spec.target.as_ref().unwrap_or(&default);
            let mut cx = TargetCompileCx {
                compiler: self,
                path: root().key("target"),
                sessions: &sessions,
                templates: &mut templates,
            };
            spec.config().compile(&mut cx)
        };
        let phases = self.phases(spec, &groups, &sessions, reply_timeout, max_duration, &mut templates);
        let faults = self.faults(spec, &sessions, max_duration, &target, &groups, &mut templates);
        let thresholds = self.thresholds(spec, &groups, &phases);
        if !spec.allow_large.unwrap_or(false) && !self.allow_large {
            self.limits(&phases, max_duration);
        }
        Plan {
            name: spec.name.clone(),
            description: spec.description.clone().unwrap_or_default().trim().to_owned(),
            file: file.to_owned(),
            tags: self.tags(spec),
            seed: spec.seed.unwrap_or(1),
            max_duration,
            sample_interval,
            target,
            groups,
            sessions: std::sync::Arc::new(sessions),
            phases,
            faults,
            thresholds,
            cloudwatch: spec.output.as_ref().and_then(|o| o.cloudwatch.as_ref()).map(compile_cloudwatch),
            templates: Arc::new(templates),
            vars: params.vars.iter().map(|(k, v)| (k.clone(), v.text())).collect(),
            message_data: std::mem::take(&mut self.message_data),
            segment: None,
            inputs: Vec::new(),
            cost: crate::cost::compile_cost(self, spec.cost.as_ref(), root().key("cost")),
            matrix: spec.matrix.as_ref().and_then(|m| super::compile_matrix(self, m, root().key("matrix"))),
            distribute: spec
                .distribute
                .as_ref()
                .and_then(|d| d.ecs.as_ref())
                .map(|e| crate::distribute::compile_ecs(self, e, root().key("distribute").key("ecs"))),
        }
    }

    /// Refuses plans over the safety limits: they are almost always a typo, and would run (or
    /// grow their journal) for ever.
    fn limits(&mut self, phases: &[PhasePlan], max_duration: Duration) {
        if max_duration > MAX_RUN {
            self.err_help(
                root().key("max_duration"),
                format!("`max_duration` is {}, over the limit of 31 days", super::units::format_duration(max_duration)),
                format!("shorten it; {LIFT_LIMITS}"),
            );
        }
        let estimates: Vec<f64> = phases.iter().map(|p| estimated_messages(p, max_duration)).collect();
        let total: f64 = estimates.iter().sum();
        if total > MAX_MESSAGES as f64 {
            let (worst, most) =
                estimates.iter().enumerate().fold((0, 0.0), |(w, m), (i, e)| if *e > m { (i, *e) } else { (w, m) });
            self.err_help(
                root().key("phases").index(worst),
                format!(
                    "this plan sends about {total:.0} messages (phase \"{}\" about {most:.0}); the limit is {MAX_MESSAGES}",
                    phases[worst].name
                ),
                format!("check the rate and the durations; {LIFT_LIMITS}"),
            );
        }
    }

    /// The scenario's tags, each checked.
    fn tags(&mut self, spec: &ScenarioSpec) -> Vec<String> {
        for (i, tag) in spec.tags.iter().enumerate() {
            let ok = !tag.is_empty()
                && tag.len() <= 40
                && tag.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !ok {
                self.err_help(
                    root().key("tags").index(i),
                    format!("tag {tag:?} is not accepted"),
                    "accepted: 1 to 40 lower-case letters, digits, `-` and `_`, e.g. \"nightly\"",
                );
            }
        }
        spec.tags.clone()
    }

    /// Names of groups, phases and faults reach terminals, reports, tags and metric
    /// dimensions: printable and at most `MAX_ID_CHARS` characters.
    fn check_name(&mut self, path: KeyPath, what: &str, name: &str) {
        if name.trim().is_empty() || name.chars().any(char::is_control) || name.chars().count() > MAX_ID_CHARS {
            self.err_help(
                path,
                format!("{what} name {:?} is not accepted", name.chars().take(MAX_ID_CHARS + 1).collect::<String>()),
                format!("accepted: printable characters, at most {MAX_ID_CHARS}, not only spaces"),
            );
        }
    }

    fn sessions(
        &mut self,
        spec: &ScenarioSpec,
        file: &str,
        globals: &serde_json::Value,
    ) -> (Vec<GroupPlan>, Vec<Session>) {
        if spec.sessions.is_empty() {
            let d = self.err(root().key("sessions"), "the scenario has no sessions");
            d.label = "no `[[sessions]]` in this file".into();
            d.help = Some("add a group: [[sessions]] count = 10, project = \"project-{{ i }}\"".into());
        }
        let mut groups = Vec::new();
        let mut sessions: Vec<Session> = Vec::new();
        // Room for every session at once (within the limit): growing a vector of a million
        // sessions by doubling copies them twenty times.
        let planned: usize = spec.sessions.iter().map(|g| g.count.unwrap_or(1).clamp(0, MAX_SESSIONS) as usize).sum();
        if planned <= MAX_TOTAL_SESSIONS {
            sessions.reserve(planned);
        }
        // Thread id hash -> session; ids whose hash another id already has, by text.
        let mut threads: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        threads.reserve(planned.min(MAX_TOTAL_SESSIONS));
        let mut collided: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut interned = Interner::default();
        for (g, group) in spec.sessions.iter().enumerate() {
            let path = root().key("sessions").index(g);
            let name = group
                .name
                .clone()
                .unwrap_or_else(|| if g == 0 { "sessions".into() } else { format!("sessions-{}", g + 1) });
            if group.name.is_some() {
                self.check_name(path.key("name"), "session group", &name);
            }
            if groups.iter().any(|gr: &GroupPlan| gr.name == name) {
                self.err(path.key("name"), format!("session group name \"{name}\" is used twice"));
            }
            let rows = match &group.from {
                Some(from) => {
                    if group.count.is_some() {
                        self.err_help(
                            path.key("count"),
                            "a group with `from` has one session per row; `count` would contradict it",
                            "remove `count`",
                        );
                    }
                    let base = std::path::Path::new(file).parent().unwrap_or(std::path::Path::new("."));
                    self.data_files.push(base.join(from));
                    match super::data::load_rows(&base.join(from), MAX_SESSIONS as usize) {
                        Ok(rows) => rows,
                        Err(e) => {
                            self.err_help(path.key("from"), e, "fix the data file, or point `from` at another");
                            groups.push(GroupPlan { name, first: sessions.len(), count: 0 });
                            continue;
                        }
                    }
                }
                None => Vec::new(),
            };
            let count = if group.from.is_some() {
                rows.len()
            } else {
                self.count(path.key("count"), group.count.unwrap_or(1), 1, MAX_SESSIONS) as usize
            };
            let no_row = super::data::Row::new();
            let row = |i: usize| rows.get(i).unwrap_or(&no_row);
            let templates = [
                ("client", group.client.as_deref().unwrap_or("herd")),
                ("project", group.project.as_deref().unwrap_or("project")),
                ("user", group.user.as_deref().unwrap_or("user")),
                ("thread", group.thread.as_deref().unwrap_or("{{ group }}-thread-{{ i }}")),
            ];
            let first = sessions.len();
            let mut rendered: [Vec<String>; 4] = std::array::from_fn(|_| Vec::with_capacity(count));
            let mut ok = true;
            // Over the limit on sessions: say so now, without naming a million sessions first.
            let total = planned;
            if total > MAX_TOTAL_SESSIONS && !spec.allow_large.unwrap_or(false) && !self.allow_large {
                if g == 0 {
                    self.err_help(
                        root().key("sessions"),
                        format!("the plan has {total} sessions, over the limit of {MAX_TOTAL_SESSIONS}"),
                        LIFT_LIMITS,
                    );
                }
                groups.push(GroupPlan { name, first: sessions.len(), count: 0 });
                continue;
            }
            // Client, project or user ids without template syntax are the same for every
            // session: checked and interned once instead of rendered a million times.
            let mut literal: [Option<std::sync::Arc<str>>; 3] = Default::default();
            for (k, (key, source)) in templates.iter().enumerate() {
                if k < 3 && !source.contains(['{', '}', '\n']) && !bad_id(source) {
                    literal[k] = Some(interned.get((*source).to_owned()));
                    continue;
                }
                let template = match OneTemplate::new(source, globals) {
                    Ok(t) => t,
                    Err(e) => {
                        self.err_help(
                            path.key(key),
                            format!("`{key}` template \"{source}\" does not render: {e}"),
                            SESSION_TEMPLATE_HELP,
                        );
                        ok = false;
                        continue;
                    }
                };
                let group_value = minijinja::Value::from(name.as_str());
                let no_data = minijinja::Value::from(minijinja::value::Serde(&no_row));
                for i in 0..count {
                    let data = if rows.is_empty() {
                        no_data.clone()
                    } else {
                        minijinja::Value::from(minijinja::value::Serde(row(i)))
                    };
                    let ctx = SessionNameCtx { i, n: first + i, group: group_value.clone(), data };
                    match template.render_value(minijinja::Value::from_object(ctx)) {
                        Ok(v) if v.trim().is_empty() => {
                            self.err(
                                path.key(key),
                                format!("`{key}` template \"{source}\" renders to an empty id for i = {i}"),
                            );
                            ok = false;
                            break;
                        }
                        Ok(v) if bad_id(&v) => {
                            // Ids reach queue names, terminals and reports: printable and short.
                            self.err_help(
                                path.key(key),
                                format!(
                                    "`{key}` template {source:?} renders to {:?} for i = {i}",
                                    v.chars().take(MAX_ID_CHARS + 1).collect::<String>()
                                ),
                                format!(
                                    "accepted: printable characters, at most {MAX_ID_CHARS}; no control characters"
                                ),
                            );
                            ok = false;
                            break;
                        }
                        Ok(v) => rendered[k].push(v),
                        Err(e) => {
                            self.err_help(
                                path.key(key),
                                format!("`{key}` template \"{source}\" does not render: {e}"),
                                SESSION_TEMPLATE_HELP,
                            );
                            ok = false;
                            break;
                        }
                    }
                }
            }
            if ok {
                let [clients, projects, users, thread_ids] = rendered;
                let mut ids = [clients.into_iter(), projects.into_iter(), users.into_iter()];
                for (i, thread) in thread_ids.into_iter().enumerate() {
                    let mut next = |k: usize| match &literal[k] {
                        Some(same) => Some(same.clone()),
                        None => ids[k].next().map(|id| interned.get(id)),
                    };
                    let (Some(client), Some(project), Some(user)) = (next(0), next(1), next(2)) else { break };
                    // Thread ids are checked by hash, with the sessions themselves holding the
                    // text: a million sessions need no second copy of their ids.
                    let h = hash_of(&thread);
                    let duplicate = match threads.get(&h) {
                        Some(&o) if sessions[o].thread == thread => Some(o),
                        Some(_) => collided.get(&thread).copied(),
                        None => None,
                    };
                    if let Some(other) = duplicate {
                        self.err_help(
                            path.key("thread"),
                            format!("thread id \"{thread}\" is used by session {other} and session {}", first + i),
                            "thread ids must be unique; include `{{ i }}` or `{{ n }}` in the template",
                        );
                        break;
                    }
                    match threads.entry(h) {
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(first + i);
                        }
                        std::collections::hash_map::Entry::Occupied(_) => {
                            collided.insert(thread.clone(), first + i);
                        }
                    }
                    sessions.push(Session {
                        index: first + i,
                        group: g,
                        group_index: i,
                        client,
                        project,
                        user,
                        thread,
                        data: row(i).clone(),
                    });
                }
            }
            let count = sessions.len() - first;
            groups.push(GroupPlan { name, first, count });
        }
        (groups, sessions)
    }

    fn resolve_groups(&mut self, path: KeyPath, names: Option<&Vec<String>>, groups: &[GroupPlan]) -> Vec<usize> {
        let Some(names) = names else {
            return groups.iter().flat_map(|g| g.first..g.first + g.count).collect();
        };
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match groups.iter().find(|g| &g.name == name) {
                Some(g) => out.extend(g.first..g.first + g.count),
                None => {
                    let accepted: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
                    let hint = nearest(name, accepted.iter().copied())
                        .map(|n| format!("did you mean `{n}`? "))
                        .unwrap_or_default();
                    self.err_help(
                        path.index(i),
                        format!("no session group is named \"{name}\""),
                        format!(
                            "{hint}groups: {}",
                            accepted.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
            }
        }
        if names.is_empty() {
            self.err(path, "`sessions` is empty; leave it out to use every group");
        }
        out
    }

    fn find_thread(&mut self, path: KeyPath, thread: &str, sessions: &[Session]) -> Option<usize> {
        if let Some(s) = sessions.iter().find(|s| s.thread == thread) {
            return Some(s.index);
        }
        let hint = nearest(thread, sessions.iter().map(|s| s.thread.as_str()))
            .map(|n| format!("did you mean \"{n}\"? "))
            .unwrap_or_default();
        let sample: Vec<String> = sessions.iter().take(5).map(|s| format!("\"{}\"", s.thread)).collect();
        let more = if sessions.len() > 5 { ", ..." } else { "" };
        self.err_help(
            path,
            format!("no session has thread id \"{thread}\""),
            format!("{hint}thread ids in this scenario: {}{more}", sample.join(", ")),
        );
        None
    }

    fn phases(
        &mut self,
        spec: &ScenarioSpec,
        groups: &[GroupPlan],
        sessions: &[Session],
        default_timeout: Duration,
        max_duration: Duration,
        templates: &mut Templates,
    ) -> Vec<PhasePlan> {
        if spec.phases.is_empty() {
            let d = self.err(root().key("phases"), "the scenario has no phases");
            d.label = "no `[[phases]]` in this file".into();
            d.help = Some(
                "add one: [[phases]] executor = \"constant-arrival-rate\", rate = \"10/s\", duration = \"1m\"".into(),
            );
        }
        let mut out: Vec<PhasePlan> = Vec::new();
        let (mut seen_measured, mut seen_teardown) = (false, false);
        for (p, phase) in spec.phases.iter().enumerate() {
            let path = root().key("phases").index(p);
            let ((name, start, groups_sel, message, timeout, allow_empty), role) = match phase {
                PhaseSpec::ConstantArrivalRate(s) => {
                    ((&s.name, &s.start, &s.sessions, &s.message, &s.reply_timeout, s.allow_empty), s.role)
                }
                PhaseSpec::RampingArrivalRate(s) => {
                    ((&s.name, &s.start, &s.sessions, &s.message, &s.reply_timeout, s.allow_empty), s.role)
                }
                PhaseSpec::PerSessionIterations(s) => {
                    ((&s.name, &s.start, &s.sessions, &s.message, &s.reply_timeout, s.allow_empty), s.role)
                }
                PhaseSpec::Burst(s) => {
                    ((&s.name, &s.start, &s.sessions, &s.message, &s.reply_timeout, s.allow_empty), s.role)
                }
                PhaseSpec::Soak(s) => {
                    ((&s.name, &s.start, &s.sessions, &s.message, &s.reply_timeout, s.allow_empty), s.role)
                }
                PhaseSpec::BreakingPoint(s) => {
                    ((&s.name, &s.start, &s.sessions, &s.message, &s.reply_timeout, s.allow_empty), s.role)
                }
            };
            // Setup phases come before every measured phase, teardown phases after them all.
            let role = role.unwrap_or(PhaseRoleSpec::Measured);
            let order_problem = match role {
                PhaseRoleSpec::Setup if seen_measured || seen_teardown => {
                    Some("a setup phase comes after a measured or teardown phase")
                }
                PhaseRoleSpec::Measured if seen_teardown => Some("a measured phase comes after a teardown phase"),
                _ => None,
            };
            if let Some(problem) = order_problem {
                self.err_help(path.key("role"), problem, "put setup phases first and teardown phases last");
            }
            seen_measured |= role == PhaseRoleSpec::Measured;
            seen_teardown |= role == PhaseRoleSpec::Teardown;
            if let Some(n) = name {
                self.check_name(path.key("name"), "phase", n);
            }
            let name = name.clone().unwrap_or_else(|| format!("phase-{}", p + 1));
            if out.iter().any(|o| o.name == name) {
                self.err(path.key("name"), format!("phase name \"{name}\" is used twice"));
            }
            let start = match start {
                Some(t) => {
                    let at = self.duration(path.key("start"), Some(t), Duration::ZERO);
                    // A phase that starts when the run has already stopped would send nothing.
                    if at >= max_duration {
                        self.err_help(
                            path.key("start"),
                            format!("the phase starts at {t}, when the run has already stopped at `max_duration`"),
                            "start it earlier or raise `max_duration`",
                        );
                    }
                    PhaseStart::At(at)
                }
                None if p == 0 => PhaseStart::At(Duration::ZERO),
                None => PhaseStart::AfterPrevious,
            };
            let phase_sessions = self.resolve_groups(path.key("sessions"), groups_sel.as_ref(), groups);
            let reply_timeout = self.duration(path.key("reply_timeout"), timeout.as_deref(), default_timeout);
            if reply_timeout.is_zero() {
                self.err(path.key("reply_timeout"), "`reply_timeout` must be longer than zero");
            }
            self.message(
                &format!("phases[{p}]"),
                &name,
                &path.key("message"),
                message.as_ref(),
                &phase_sessions,
                sessions,
                groups,
                templates,
            );
            let executor = self.executor(phase, &path, &phase_sessions, sessions);
            let think_time = match phase {
                PhaseSpec::ConstantArrivalRate(s) => s.think_time.as_deref(),
                PhaseSpec::RampingArrivalRate(s) => s.think_time.as_deref(),
                PhaseSpec::Soak(s) => s.think_time.as_deref(),
                PhaseSpec::BreakingPoint(s) => s.think_time.as_deref(),
                // The closed model keeps its think time in its executor; a burst has none.
                PhaseSpec::PerSessionIterations(_) | PhaseSpec::Burst(_) => None,
            }
            .map(|t| self.distribution(path.key("think_time"), Some(t), "fixed(0s)"));
            out.push(PhasePlan {
                name,
                start,
                sessions: phase_sessions,
                reply_timeout,
                executor,
                allow_empty: allow_empty.unwrap_or(false),
                unmeasured: role != PhaseRoleSpec::Measured,
                think_time,
            });
        }
        out
    }

    #[expect(clippy::too_many_arguments, reason = "one call site; the arguments are the phase's context")]
    /// Compiles a message table; its templates are named after `owner` (`phases[0]`,
    /// `faults[2]`), as `instruction_name` and `field_name` say.
    fn message(
        &mut self,
        owner: &str,
        phase_name: &str,
        path: &KeyPath,
        spec: Option<&MessageSpec>,
        phase_sessions: &[usize],
        sessions: &[Session],
        groups: &[GroupPlan],
        templates: &mut Templates,
    ) {
        let spec = spec.cloned().unwrap_or_default();
        // Rows that feed the messages: the templates are checked against the first one.
        let mut first_row = std::collections::BTreeMap::new();
        // Without its rows a template that uses them cannot be checked; the data error says why.
        let mut rows_missing = false;
        if let Some(from) = &spec.from {
            self.data_files.push(self.base_dir.join(from));
            match super::data::load_rows(&self.base_dir.join(from), 10_000_000) {
                Ok(rows) => {
                    first_row = rows.first().cloned().unwrap_or_default();
                    let order = match spec.order {
                        None | Some(DataOrderSpec::Sequential) => DataOrder::Sequential,
                        Some(DataOrderSpec::Random) => DataOrder::Random,
                        Some(DataOrderSpec::PerSession) => DataOrder::PerSession,
                    };
                    let count = rows.len();
                    self.message_data.insert(owner.to_owned(), MessageData { rows: Arc::new(rows), count, order });
                }
                Err(e) => {
                    self.err_help(path.key("from"), e, "fix the data file, or point `from` at another");
                    rows_missing = true;
                }
            }
        } else if spec.order.is_some() {
            self.err_help(
                path.key("order"),
                "`order` chooses rows of `from`, and there is no `from`",
                "add `from` or remove `order`",
            );
        }
        let instruction = spec.instruction.unwrap_or_else(|| "herd message {{ message.seq }}".into());
        let mut entries = vec![(instruction_name(owner), path.key("instruction"), instruction)];
        for (k, v) in &spec.fields {
            entries.push((field_name(owner, k), path.key("fields").key(k), v.clone()));
        }
        // Render each template once against the phase's first session so that a misspelt
        // variable is an error now, not in every message of the run.
        let sample = phase_sessions.first().and_then(|i| sessions.get(*i));
        for (name, key_path, source) in entries {
            if let Err(e) = templates.add(&name, &source) {
                self.err(key_path, format!("template \"{source}\" has a syntax error: {e}"));
                continue;
            }
            if let Some(s) = sample.filter(|_| !rows_missing) {
                let group = groups.get(s.group).map_or("", |g| g.name.as_str());
                let vars = MessageVars {
                    seq: 0,
                    iteration: 0,
                    id: "00000000-0000-0000-0000-000000000000".into(),
                    data: first_row.clone(),
                };
                let ctx = MessageContext::new(s, group, vars, phase_name);
                if let Err(e) = templates.render(&name, &ctx) {
                    self.err_help(
                        key_path,
                        format!("template \"{source}\" does not render: {e}"),
                        "available: session.client, session.project, session.user, session.thread, session.index, session.group, session.data.*, message.seq, message.iteration, message.id, message.data.*, phase.name, vars.*",
                    );
                }
            }
        }
    }

    fn arrivals(a: Option<ArrivalsSpec>) -> bool {
        a == Some(ArrivalsSpec::Poisson)
    }

    fn executor(
        &mut self,
        phase: &PhaseSpec,
        path: &KeyPath,
        phase_sessions: &[usize],
        sessions: &[Session],
    ) -> ExecutorPlan {
        match phase {
            PhaseSpec::ConstantArrivalRate(s) => {
                let rate = self.rate(path.key("rate"), &s.rate);
                if rate == 0.0 && parse_rate(&s.rate).is_ok() {
                    self.err(path.key("rate"), format!("rate \"{}\" sends nothing; use a rate above zero", s.rate));
                }
                ExecutorPlan::ConstantArrivalRate {
                    rate,
                    duration: self.positive_duration(path.key("duration"), &s.duration),
                    poisson: Self::arrivals(s.arrivals),
                    max_in_flight: self.count(
                        path.key("max_in_flight"),
                        s.max_in_flight.unwrap_or(10_000),
                        1,
                        10_000_000,
                    ),
                }
            }
            PhaseSpec::RampingArrivalRate(s) => {
                let start_rate = match &s.start_rate {
                    Some(r) => self.rate(path.key("start_rate"), r),
                    None => 0.0,
                };
                if s.stages.is_empty() {
                    self.err(
                        path.key("stages"),
                        "`stages` is empty; add e.g. { target = \"20/s\", duration = \"1m\" }",
                    );
                }
                let stages = s
                    .stages
                    .iter()
                    .enumerate()
                    .map(|(i, st)| {
                        let sp = path.key("stages").index(i);
                        (
                            self.rate(sp.key("target"), &st.target),
                            self.positive_duration(sp.key("duration"), &st.duration),
                        )
                    })
                    .collect();
                ExecutorPlan::RampingArrivalRate {
                    start_rate,
                    stages,
                    poisson: Self::arrivals(s.arrivals),
                    max_in_flight: self.count(
                        path.key("max_in_flight"),
                        s.max_in_flight.unwrap_or(10_000),
                        1,
                        10_000_000,
                    ),
                }
            }
            PhaseSpec::PerSessionIterations(s) => ExecutorPlan::PerSessionIterations {
                iterations: self.count(path.key("iterations"), s.iterations, 1, 10_000_000),
                order: match s.order {
                    None | Some(IterationOrderSpec::Concurrent) => IterationOrder::Concurrent,
                    Some(IterationOrderSpec::RoundRobin) => IterationOrder::RoundRobin,
                    Some(IterationOrderSpec::PerUserRoundRobin) => IterationOrder::PerUserRoundRobin,
                },
                think_time: self.distribution(path.key("think_time"), s.think_time.as_deref(), "fixed(0s)"),
            },
            PhaseSpec::Burst(s) => {
                let to = s.to.as_ref().and_then(|t| {
                    let idx = self.find_thread(path.key("to"), t, sessions)?;
                    if !phase_sessions.contains(&idx) {
                        self.err(path.key("to"), format!("session \"{t}\" is not in this phase's session groups"));
                    }
                    Some(idx)
                });
                ExecutorPlan::Burst { count: self.count(path.key("count"), s.count, 1, 10_000_000), to }
            }
            PhaseSpec::Soak(s) => ExecutorPlan::Soak {
                interval: self.positive_duration(path.key("interval"), &s.interval),
                duration: self.positive_duration(path.key("duration"), &s.duration),
            },
            PhaseSpec::BreakingPoint(s) => self.breaking_point(s, path),
        }
    }

    fn breaking_point(&mut self, s: &crate::scenario::BreakingPointSpec, path: &KeyPath) -> ExecutorPlan {
        let step = self.rate(path.key("step"), &s.step);
        if step == 0.0 && parse_rate(&s.step).is_ok() {
            self.err(
                path.key("step"),
                format!("a step of \"{}\" never raises the rate; use a step above zero", s.step),
            );
        }
        let start_rate = match &s.start_rate {
            Some(r) => self.rate(path.key("start_rate"), r),
            None => step,
        };
        let max_rate = self.rate(path.key("max_rate"), &s.max_rate);
        if max_rate < start_rate && parse_rate(&s.max_rate).is_ok() {
            self.err_help(
                path.key("max_rate"),
                format!("`max_rate` \"{}\" is below the first step's rate", s.max_rate),
                "raise `max_rate` or lower `start_rate`",
            );
        } else if step > 0.0 && (max_rate - start_rate) / step >= 1000.0 {
            self.err_help(
                path.key("step"),
                format!("from {start_rate}/s to {max_rate}/s by {step}/s is over 1000 steps"),
                "take bigger steps or a lower `max_rate`",
            );
        }
        let step_duration = self.positive_duration(path.key("step_duration"), &s.step_duration);
        if s.until.is_empty() {
            self.err_help(
                path.key("until"),
                "`until` has no rules, so no step can fail",
                "add e.g. until = { message_latency = [\"p(99) < 15s\"], message_success = [\"rate > 0.95\"] }",
            );
        }
        let accepted = [Metric::MessageLatency, Metric::MessageSuccess, Metric::MessagesFailed, Metric::MessagesLost];
        let mut until = Vec::new();
        for (key, rules) in &s.until {
            let kpath = path.key("until").key(key);
            let metric = match parse_key(key) {
                Ok((m, tags)) if tags.is_empty() && accepted.contains(&m) => m,
                Ok(_) => {
                    self.err_help(
                        kpath,
                        format!("a step cannot be judged on `{key}`"),
                        "accepted: `message_latency`, `message_success`, `messages_failed`, `messages_lost`, without tags (a step is judged on its own phase)",
                    );
                    continue;
                }
                Err(e) => {
                    self.err(kpath, e);
                    continue;
                }
            };
            for (i, rule) in rules.iter().enumerate() {
                match parse_rule(metric, rule) {
                    Ok(r) => until.push(StepRule {
                        key: key.clone(),
                        rule: rule.trim().to_owned(),
                        metric,
                        aggregate: r.aggregate,
                        cmp: r.cmp,
                        limit: r.limit,
                    }),
                    Err(e) => {
                        self.err(kpath.index(i), e);
                    }
                }
            }
        }
        ExecutorPlan::BreakingPoint {
            start_rate,
            step,
            step_duration,
            max_rate,
            until,
            poisson: Self::arrivals(s.arrivals),
            max_in_flight: self.count(path.key("max_in_flight"), s.max_in_flight.unwrap_or(10_000), 1, 10_000_000),
        }
    }

    fn rate(&mut self, path: KeyPath, text: &str) -> f64 {
        match parse_rate(text) {
            Ok(r) => r,
            Err(e) => {
                self.err(path, e);
                0.0
            }
        }
    }

    fn faults(
        &mut self,
        spec: &ScenarioSpec,
        sessions: &[Session],
        max_duration: Duration,
        target: &Arc<dyn CompiledTarget>,
        groups: &[GroupPlan],
        templates: &mut Templates,
    ) -> Vec<FaultPlan> {
        let mut out = Vec::new();
        for (f, fault) in spec.faults.iter().enumerate() {
            let path = root().key("faults").index(f);
            let (name, at, after, every, times, allow_empty) = match fault {
                FaultSpec::KillContainer(s) | FaultSpec::StopContainer(s) => {
                    (&s.name, &s.at, s.after_messages, &s.every, s.times, s.allow_empty)
                }
                FaultSpec::Interrupt(s) => (&s.name, &s.at, s.after_messages, &s.every, s.times, s.allow_empty),
                FaultSpec::PauseContainer(s) => (&s.name, &s.at, s.after_messages, &s.every, s.times, s.allow_empty),
            };
            let action = match fault {
                FaultSpec::KillContainer(s) => self
                    .selector(&path, s.owner_of.as_deref(), s.container, s.random, sessions)
                    .map(|select| FaultAction::KillContainer { select }),
                FaultSpec::StopContainer(s) => self
                    .selector(&path, s.owner_of.as_deref(), s.container, s.random, sessions)
                    .map(|select| FaultAction::StopContainer { select }),
                FaultSpec::PauseContainer(s) => {
                    let duration = self.positive_duration(path.key("duration"), &s.duration);
                    self.selector(&path, s.owner_of.as_deref(), s.container, s.random, sessions)
                        .map(|select| FaultAction::PauseContainer { select, duration })
                }
                FaultSpec::Interrupt(s) => {
                    let session = self.find_thread(path.key("session"), &s.session, sessions);
                    let message = s.message.as_ref().map(|m| {
                        let owner = format!("faults[{f}]");
                        let phase = "fault";
                        let only: Vec<usize> = session.into_iter().collect();
                        self.message(&owner, phase, &path.key("message"), Some(m), &only, sessions, groups, templates);
                        owner
                    });
                    session.map(|session| FaultAction::Interrupt { session, message })
                }
            };
            let trigger = match (at, after) {
                (Some(t), None) => {
                    let d = self.duration(path.key("at"), Some(t), Duration::ZERO);
                    if d >= max_duration {
                        self.err_help(
                            path.key("at"),
                            format!("the fault strikes at {t}, but the run stops at `max_duration`"),
                            "move it earlier or raise `max_duration`",
                        );
                    }
                    Some(FaultTrigger::At(d))
                }
                (None, Some(n)) => {
                    Some(FaultTrigger::AfterMessages(self.count(path.key("after_messages"), n, 0, i64::MAX)))
                }
                (Some(_), Some(_)) => {
                    self.err_help(
                        path.key("after_messages"),
                        "a fault has both `at` and `after_messages`",
                        "keep one of them",
                    );
                    None
                }
                (None, None) => {
                    let d = self.err(
                        path.clone(),
                        "the fault says neither when (`at`) nor after how many messages (`after_messages`) it strikes",
                    );
                    d.help = Some("add e.g. at = \"2m\" or after_messages = 50".into());
                    None
                }
            };
            let times = self.count(path.key("times"), times.unwrap_or(1), 1, 100_000);
            let every = every.as_deref().map(|e| self.positive_duration(path.key("every"), e));
            if every.is_some() && matches!(trigger, Some(FaultTrigger::AfterMessages(_))) {
                self.err_help(
                    path.key("every"),
                    "`every` repeats a fault given by `at`",
                    "use `at` with `every`, or drop `every`",
                );
            }
            if times > 1 && every.is_none() {
                self.err_help(
                    path.key("times"),
                    "`times` needs `every` to say how far apart the strikes are",
                    "add e.g. every = \"6m\"",
                );
            }
            let kind = match fault {
                FaultSpec::KillContainer(_) => FaultKind::KillContainer,
                FaultSpec::StopContainer(_) => FaultKind::StopContainer,
                FaultSpec::Interrupt(_) => FaultKind::Interrupt,
                FaultSpec::PauseContainer(_) => FaultKind::PauseContainer,
            };
            if let Err(refusal) = target.check_fault(kind) {
                self.err_help(path.key("action"), refusal.message, refusal.help);
            }
            // A pool fixed before the run: an index or a count beyond it can never strike.
            let select = match &action {
                Some(
                    FaultAction::KillContainer { select }
                    | FaultAction::StopContainer { select }
                    | FaultAction::PauseContainer { select, .. },
                ) => Some(select),
                _ => None,
            };
            let plural = |n: u64| if n == 1 { "" } else { "s" };
            match (target.container_pool(), select) {
                (Some(pool), Some(ContainerSelector::Index(i))) if *i >= pool.started => {
                    self.err_help(
                        path.key("container"),
                        format!(
                            "container {i} can never exist: the run starts at most {} container{}",
                            pool.started,
                            plural(pool.started)
                        ),
                        format!(
                            "containers are numbered 0 to {} in start order (replacements of killed ones included); lower it or raise `count`",
                            pool.started.saturating_sub(1)
                        ),
                    );
                }
                (Some(pool), Some(ContainerSelector::Random(n))) if *n > pool.running => {
                    self.err_help(
                        path.key("random"),
                        format!(
                            "`random` = {n} is more than the {} container{} that run at once",
                            pool.running,
                            plural(pool.running)
                        ),
                        format!("use at most {}, or raise `count`", pool.running),
                    );
                }
                _ => {}
            }
            if let Some(n) = name {
                self.check_name(path.key("name"), "fault", n);
            }
            let (Some(action), Some(trigger)) = (action, trigger) else { continue };
            let label = name.clone().unwrap_or_else(|| default_fault_label(&action, sessions));
            for k in 0..times {
                let trigger = match (trigger, every) {
                    (FaultTrigger::At(t), Some(e)) => {
                        // Checked: `every = "5000000000000h"` must be an error, not an overflow.
                        let at = u32::try_from(k).ok().and_then(|k| e.checked_mul(k)).and_then(|d| t.checked_add(d));
                        match at {
                            Some(at) if at < max_duration => FaultTrigger::At(at),
                            _ => {
                                self.err_help(
                                    path.key("every"),
                                    format!("strike {} of {times} would come after `max_duration`", k + 1),
                                    "lower `times` or `every`, or raise `max_duration`",
                                );
                                break;
                            }
                        }
                    }
                    (t, _) => t,
                };
                let name = if times > 1 { format!("{label} #{}", k + 1) } else { label.clone() };
                out.push(FaultPlan {
                    name,
                    trigger,
                    action: action.clone(),
                    allow_empty: allow_empty.unwrap_or(false),
                });
            }
        }
        out
    }

    fn selector(
        &mut self,
        path: &KeyPath,
        owner_of: Option<&str>,
        container: Option<i64>,
        random: Option<i64>,
        sessions: &[Session],
    ) -> Option<ContainerSelector> {
        let given = [owner_of.is_some(), container.is_some(), random.is_some()].iter().filter(|b| **b).count();
        if given != 1 {
            let message = if given == 0 {
                "the fault does not say which containers it strikes"
            } else {
                "the fault names its containers in more than one way"
            };
            self.err_help(
                path.clone(),
                message,
                "give exactly one of owner_of = \"<thread id>\", container = <index> or random = <count>",
            );
            return None;
        }
        if let Some(t) = owner_of {
            return self.find_thread(path.key("owner_of"), t, sessions).map(ContainerSelector::OwnerOf);
        }
        if let Some(i) = container {
            return Some(ContainerSelector::Index(self.count(path.key("container"), i, 0, 10_000)));
        }
        random.map(|n| ContainerSelector::Random(self.count(path.key("random"), n, 1, 10_000)))
    }

    fn thresholds(&mut self, spec: &ScenarioSpec, groups: &[GroupPlan], phases: &[PhasePlan]) -> Vec<ThresholdPlan> {
        let mut out = Vec::new();
        for (key, rules) in &spec.thresholds {
            let path = root().key("thresholds").key(key);
            let (metric, tags) = match parse_key(key) {
                Ok(v) => v,
                Err(e) => {
                    let d = self.err(path, e);
                    d.label = "unknown metric or tag".into();
                    continue;
                }
            };
            let mut unknown = false;
            for tag in tags.iter().filter(|t| t.key != "outcome") {
                let names: Vec<&str> = if tag.key == "phase" {
                    phases.iter().map(|p| p.name.as_str()).collect()
                } else {
                    groups.iter().map(|g| g.name.as_str()).collect()
                };
                if !names.contains(&tag.value.as_str()) {
                    let hint = nearest(&tag.value, names.iter().copied())
                        .map(|n| format!("did you mean \"{n}\"? "))
                        .unwrap_or_default();
                    self.err_help(
                        path.clone(),
                        format!("no {} is named \"{}\"", tag.key, tag.value),
                        format!(
                            "{hint}{}s: {}",
                            tag.key,
                            names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
                        ),
                    );
                    unknown = true;
                }
            }
            if unknown {
                continue;
            }
            if rules.is_empty() {
                self.err(path.clone(), format!("`{key}` has no rules; add e.g. \"p(99) < 15s\" or remove the key"));
            }
            for (i, rule) in rules.iter().enumerate() {
                let window = rule.window.as_deref().map(|w| self.positive_duration(path.index(i).key("window"), w));
                let delay = self.duration(path.index(i).key("delay"), rule.delay.as_deref(), Duration::ZERO);
                if (window.is_some() || rule.delay.is_some()) && rule.rule.trim_start().starts_with("growth") {
                    self.err_help(
                        path.index(i).key("window"),
                        "`growth` is judged over the whole run; it has no `window` or `delay`",
                        "use `max` with a window to bound a gauge over the latest data",
                    );
                }
                match parse_rule(metric, &rule.rule) {
                    Ok(r) => out.push(ThresholdPlan {
                        key: key.clone(),
                        rule: {
                            // Reports show when a rule was judged, not only what it says.
                            let mut when = Vec::new();
                            if let Some(w) = window {
                                when.push(format!("over {}", super::units::format_duration(w)));
                            }
                            if !delay.is_zero() {
                                when.push(format!("after {}", super::units::format_duration(delay)));
                            }
                            let text = rule.rule.trim().to_owned();
                            if when.is_empty() { text } else { format!("{text} ({})", when.join(", ")) }
                        },
                        metric,
                        tags: tags.clone(),
                        aggregate: r.aggregate,
                        cmp: r.cmp,
                        limit: r.limit,
                        abort_on_fail: rule.abort_on_fail,
                        window,
                        delay,
                    }),
                    Err(e) => {
                        self.err(path.index(i), e);
                    }
                }
            }
        }
        out
    }
}

/// About how many messages a phase sends, its length cut at `max_duration`.
fn estimated_messages(p: &PhasePlan, max_duration: Duration) -> f64 {
    let secs = |d: Duration| d.min(max_duration).as_secs_f64();
    let n = p.sessions.len() as f64;
    match &p.executor {
        ExecutorPlan::ConstantArrivalRate { rate, duration, .. } => rate * secs(*duration),
        ExecutorPlan::RampingArrivalRate { start_rate, stages, .. } => {
            let mut from = *start_rate;
            let mut total = 0.0;
            for (to, d) in stages {
                total += (from + to) / 2.0 * secs(*d);
                from = *to;
            }
            total
        }
        ExecutorPlan::PerSessionIterations { iterations, .. } => *iterations as f64 * n,
        ExecutorPlan::Burst { count, to } => *count as f64 * if to.is_some() { 1.0 } else { n },
        ExecutorPlan::Soak { interval, duration } => (secs(*duration) / interval.as_secs_f64().max(1e-6)).ceil() * n,
        // At most: every step runs to its end.
        ExecutorPlan::BreakingPoint { step_duration, .. } => {
            p.executor.step_rates().iter().map(|r| r * secs(*step_duration)).sum()
        }
    }
}

/// The template name of the instruction of a message table owned by `owner` (`phases[0]`,
/// `faults[2]`).
pub(crate) fn instruction_name(owner: &str) -> String {
    format!("{owner}.message.instruction")
}

/// The template name of an extra field of a message table owned by `owner`.
pub(crate) fn field_name(owner: &str, field: &str) -> String {
    format!("{owner}.message.fields.{field}")
}

fn default_fault_label(action: &FaultAction, sessions: &[Session]) -> String {
    let thread = |i: &usize| sessions.get(*i).map_or("?", |s| s.thread.as_str()).to_owned();
    let select = |s: &ContainerSelector| match s {
        ContainerSelector::OwnerOf(i) => format!("owner of {}", thread(i)),
        ContainerSelector::Index(i) => format!("container {i}"),
        ContainerSelector::Random(n) => format!("{n} random"),
    };
    match action {
        FaultAction::KillContainer { select: s } => format!("kill {}", select(s)),
        FaultAction::StopContainer { select: s } => format!("stop {}", select(s)),
        FaultAction::PauseContainer { select: s, duration } => {
            format!("pause {} for {}", select(s), super::units::format_duration(*duration))
        }
        FaultAction::Interrupt { session, message: None } => format!("interrupt {}", thread(session)),
        FaultAction::Interrupt { session, message: Some(_) } => {
            format!("interrupt {} with a new message", thread(session))
        }
    }
}
