//! Queue names per session, held once per distinct name.
//!
//! A queue-name template usually names the queue after the project and user
//! (`webordinary-input-{{ session.project }}-{{ session.user }}.fifo`), so a million sessions
//! over a hundred pairs have a hundred queues. Rendering it a million times made start-up slow
//! and a URL per session made every session cost a hundred bytes. A template that sees the
//! session only through its client, project and user ids is rendered once per distinct ids;
//! any other is rendered per session. Either way each session holds the index of its queue.

use std::collections::HashMap;

use crate::plan::{Plan, TargetContext};

/// The distinct queues (URLs, or names before they are known) and each session's.
#[derive(Debug, Default)]
pub(crate) struct SessionQueues {
    /// Distinct values, in the order their first session appears.
    pub(crate) names: Vec<String>,
    /// Per session, the index of its value in `names`.
    of: Vec<u32>,
}

impl SessionQueues {
    /// Renders template `name` for every session of `plan`; `finish` turns a rendered name into
    /// what is kept (its URL).
    pub(crate) fn render(plan: &Plan, name: &str, finish: impl Fn(String) -> String) -> Result<Self, String> {
        let t = &plan.templates;
        let by_ids = t.session_ids_only(name);
        let mut out = Self { names: Vec::new(), of: Vec::with_capacity(plan.sessions.len()) };
        let mut index: HashMap<String, u32> = HashMap::new();
        // Keyed by the identity of the shared ids (the compile step interns them; ids that were
        // not shared only cost a second rendering, which `index` folds into the same value).
        let mut memo: HashMap<(usize, usize, usize), u32> = HashMap::new();
        for s in plan.sessions.iter() {
            let key = s.ids_key();
            if by_ids && let Some(&i) = memo.get(&key) {
                out.of.push(i);
                continue;
            }
            let value = finish(t.render(name, &TargetContext::sample(s, ""))?);
            let i = match index.get(&value) {
                Some(&i) => i,
                None => {
                    let i = u32::try_from(out.names.len()).map_err(|_| "more than 4 billion queues".to_owned())?;
                    index.insert(value.clone(), i);
                    out.names.push(value);
                    i
                }
            };
            if by_ids {
                memo.insert(key, i);
            }
            out.of.push(i);
        }
        Ok(out)
    }

    /// The index in `names` of session `session`'s value.
    pub(crate) fn index_of(&self, session: usize) -> usize {
        self.of[session] as usize
    }

    /// Session `session`'s value.
    pub(crate) fn of(&self, session: usize) -> &str {
        &self.names[self.of[session] as usize]
    }

    /// Each distinct value with the sessions that have it, in order.
    pub(crate) fn counts(&self) -> Vec<(&str, usize)> {
        let mut counts = vec![0; self.names.len()];
        for &i in &self.of {
            counts[i as usize] += 1;
        }
        self.names.iter().map(String::as_str).zip(counts).collect()
    }
}
