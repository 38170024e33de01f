//! The subnet's tasks as the gateway serves them: the config's `[[tasks]]` (name, model, weight,
//! optionally one route), their checks, which task a request belongs to, and the task weights an
//! epoch is scored with.
//!
//! With no `[[tasks]]` the gateway behaves as before: one model (`gateway.model`), and a request's
//! task is `chat` or `completion` by its route, weighted equally.
//! Must not touch: routing or recording (they ask [`TaskTable::task_of`] and record the name).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::proxy::Route;

/// Tasks one config may name, at most.
pub const MAX_TASKS: usize = 16;
/// Distinct models the tasks may name, at most (each needs a reference engine to verify it).
pub const MAX_TASK_MODELS: usize = 4;
/// How far the weights' sum may be from 1.
pub const WEIGHT_SUM_TOLERANCE: f64 = 1e-9;
/// The tasks of a config with none: by route.
pub const DEFAULT_TASKS: [&str; 2] = ["chat", "completion"];

/// One `[[tasks]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Its name, as miners declare it and the epoch input names it.
    pub name: String,
    /// The model id users ask for; miners serving the task serve this model.
    pub model: String,
    /// Its share of the miners' weights (all tasks' weights sum to 1).
    pub weight: f64,
    /// The one route it is served on; absent: both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<TaskRoute>,
}

/// A task's route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskRoute {
    /// `/v1/chat/completions`
    Chat,
    /// `/v1/completions`
    Completion,
}

impl TaskRoute {
    fn admits(route: Option<TaskRoute>, asked: Route) -> bool {
        matches!(
            (route, asked),
            (None, _) | (Some(TaskRoute::Chat), Route::Chat) | (Some(TaskRoute::Completion), Route::Completions)
        )
    }
}

/// Checks `[[tasks]]`: at most [`MAX_TASKS`] over at most [`MAX_TASK_MODELS`] models, names
/// unique and 1 to 64 bytes, weights above 0 summing to 1, and no two tasks of one model sharing
/// a route (a request must belong to one task). Errors are `(key, reason)`.
pub fn check_tasks(tasks: &[Task]) -> Result<(), (String, String)> {
    let bad = |key: &str, reason: String| Err((format!("tasks.{key}"), reason));
    if tasks.len() > MAX_TASKS {
        return bad("name", format!("{} tasks (at most {MAX_TASKS})", tasks.len()));
    }
    let mut names = BTreeSet::new();
    for t in tasks {
        if t.name.is_empty() || t.name.len() > assay_protocol::wire::MAX_TASK_NAME_BYTES {
            return bad("name", format!("{:?} must be 1 to 64 bytes", t.name));
        }
        if !names.insert(t.name.as_str()) {
            return bad("name", format!("{:?} is named twice", t.name));
        }
        if t.model.is_empty() {
            return bad("model", format!("task {:?} must name a model", t.name));
        }
        if !(t.weight.is_finite() && t.weight > 0.0) {
            return bad("weight", format!("task {:?}: {} must be above 0", t.name, t.weight));
        }
    }
    let models: BTreeSet<&str> = tasks.iter().map(|t| t.model.as_str()).collect();
    if models.len() > MAX_TASK_MODELS {
        return bad("model", format!("{} models (at most {MAX_TASK_MODELS})", models.len()));
    }
    let sum: f64 = tasks.iter().map(|t| t.weight).sum();
    if !tasks.is_empty() && (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
        return bad("weight", format!("the weights sum to {sum}, not 1"));
    }
    for (i, a) in tasks.iter().enumerate() {
        let overlap = |b: &&Task| b.model == a.model && (a.route.is_none() || b.route.is_none() || a.route == b.route);
        if let Some(b) = tasks[i + 1..].iter().find(overlap) {
            return bad("route", format!("tasks {:?} and {:?} share model and route", a.name, b.name));
        }
    }
    Ok(())
}

/// The task weights an epoch is scored with: the config's, or with no `[[tasks]]` the two
/// route tasks at one half each. The seam the epoch input's `tasks` is filled from.
pub fn task_weights(tasks: &[Task]) -> BTreeMap<String, f64> {
    if tasks.is_empty() {
        return DEFAULT_TASKS.iter().map(|t| (t.to_string(), 0.5)).collect();
    }
    tasks.iter().map(|t| (t.name.clone(), t.weight)).collect()
}

/// Which task a request belongs to, and which tasks a miner of a given model serves.
#[derive(Debug, Clone)]
pub struct TaskTable {
    /// `gateway.model`: the one model when no tasks are configured.
    default_model: String,
    tasks: Vec<(Arc<str>, Task)>,
}

impl TaskTable {
    pub fn new(default_model: &str, tasks: &[Task]) -> Self {
        let tasks = tasks.iter().map(|t| (Arc::from(t.name.as_str()), t.clone())).collect();
        Self { default_model: default_model.into(), tasks }
    }

    /// The task of a request for `model` on `route`; `None` when no task serves it.
    pub fn task_of(&self, model: &str, route: Route) -> Option<Arc<str>> {
        if self.tasks.is_empty() {
            return (model == self.default_model).then(|| {
                Arc::from(match route {
                    Route::Chat => DEFAULT_TASKS[0],
                    Route::Completions => DEFAULT_TASKS[1],
                })
            });
        }
        self.tasks.iter().find(|(_, t)| t.model == model && TaskRoute::admits(t.route, route)).map(|(n, _)| n.clone())
    }

    /// Whether some task is served with `model`.
    pub fn serves_model(&self, model: &str) -> bool {
        if self.tasks.is_empty() {
            return model == self.default_model;
        }
        self.tasks.iter().any(|(_, t)| t.model == model)
    }

    /// The tasks a miner serving `model` serves when its `info` lists none (an older miner).
    pub fn tasks_of_model(&self, model: &str) -> Vec<&str> {
        if self.tasks.is_empty() {
            return if model == self.default_model { DEFAULT_TASKS.to_vec() } else { Vec::new() };
        }
        self.tasks.iter().filter(|(_, t)| t.model == model).map(|(n, _)| &**n).collect()
    }

    /// The model a task's requests ask for.
    pub fn model_of(&self, task: &str) -> Option<&str> {
        if self.tasks.is_empty() {
            return DEFAULT_TASKS.contains(&task).then_some(self.default_model.as_str());
        }
        self.tasks.iter().find(|(n, _)| &**n == task).map(|(_, t)| t.model.as_str())
    }

    /// The route a task's competition requests take: its own, else chat (`None`: no such task).
    pub fn route_of(&self, task: &str) -> Option<Route> {
        if self.tasks.is_empty() {
            return match task {
                t if t == DEFAULT_TASKS[0] => Some(Route::Chat),
                t if t == DEFAULT_TASKS[1] => Some(Route::Completions),
                _ => None,
            };
        }
        let (_, t) = self.tasks.iter().find(|(n, _)| &**n == task)?;
        Some(if t.route == Some(TaskRoute::Completion) { Route::Completions } else { Route::Chat })
    }

    /// A model for the validator's own request on `route`: a task served there, drawn by
    /// weight (`None` with no tasks configured: `gateway.model`).
    pub fn pick_model(&self, route: Route, rng: &mut impl rand::Rng) -> Option<&str> {
        let on_route: Vec<&Task> =
            self.tasks.iter().map(|(_, t)| t).filter(|t| TaskRoute::admits(t.route, route)).collect();
        let total: f64 = on_route.iter().map(|t| t.weight).sum();
        let mut point = rng.gen_range(0.0..=total.max(f64::MIN_POSITIVE));
        for t in &on_route {
            if point <= t.weight {
                return Some(&t.model);
            }
            point -= t.weight;
        }
        on_route.last().map(|t| t.model.as_str())
    }

    /// The served models, for `/v1/models`.
    pub fn models(&self) -> Vec<&str> {
        if self.tasks.is_empty() {
            return vec![self.default_model.as_str()];
        }
        let set: BTreeSet<&str> = self.tasks.iter().map(|(_, t)| t.model.as_str()).collect();
        set.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, model: &str, weight: f64, route: Option<TaskRoute>) -> Task {
        Task { name: name.into(), model: model.into(), weight, route }
    }

    fn check(tasks: &[Task], key: &str, reason: &str) {
        let (k, r) = check_tasks(tasks).expect_err("refused");
        assert_eq!(k, key, "{r}");
        assert!(r.contains(reason), "{r:?} should say {reason:?}");
    }

    #[test]
    fn tasks_are_checked() {
        check_tasks(&[]).expect("none is today's behaviour");
        check_tasks(&[task("a", "m", 0.25, None), task("b", "n", 0.75, None)]).expect("valid");
        check(&[task("a", "m", 0.5, None), task("b", "n", 0.4, None)], "tasks.weight", "sum to");
        check(&[task("a", "m", 0.0, None), task("b", "n", 1.0, None)], "tasks.weight", "above 0");
        check(&[task("a", "m", f64::NAN, None)], "tasks.weight", "above 0");
        check(&[task("a", "m", 0.5, None), task("a", "n", 0.5, None)], "tasks.name", "twice");
        check(&[task("", "m", 1.0, None)], "tasks.name", "1 to 64");
        check(&[task("a", "", 1.0, None)], "tasks.model", "a model");
        let many: Vec<_> = (0..=MAX_TASKS).map(|i| task(&format!("t{i}"), "m", 1.0 / 17.0, None)).collect();
        check(&many, "tasks.name", "at most");
        let models: Vec<_> = (0..5).map(|i| task(&format!("t{i}"), &format!("m{i}"), 0.2, None)).collect();
        check(&models, "tasks.model", "at most");
        check(&[task("a", "m", 0.5, None), task("b", "m", 0.5, Some(TaskRoute::Chat))], "tasks.route", "share");
        check_tasks(&[task("a", "m", 0.5, Some(TaskRoute::Completion)), task("b", "m", 0.5, Some(TaskRoute::Chat))])
            .expect("one model, two routes");
    }

    #[test]
    fn a_request_belongs_to_the_task_of_its_model_and_route() {
        let none = TaskTable::new("m", &[]);
        assert_eq!(none.task_of("m", Route::Chat).as_deref(), Some("chat"));
        assert_eq!(none.task_of("m", Route::Completions).as_deref(), Some("completion"));
        assert_eq!(none.task_of("other", Route::Chat), None);
        assert_eq!(task_weights(&[]), BTreeMap::from([("chat".into(), 0.5), ("completion".into(), 0.5)]));

        let tasks = [
            task("chat-small", "small", 0.3, Some(TaskRoute::Chat)),
            task("text-small", "small", 0.3, Some(TaskRoute::Completion)),
            task("big", "big", 0.4, None),
        ];
        let table = TaskTable::new("small", &tasks);
        assert_eq!(table.task_of("small", Route::Chat).as_deref(), Some("chat-small"));
        assert_eq!(table.task_of("small", Route::Completions).as_deref(), Some("text-small"));
        assert_eq!(table.task_of("big", Route::Completions).as_deref(), Some("big"));
        assert_eq!(table.task_of("m", Route::Chat), None);
        assert_eq!(table.tasks_of_model("small"), ["chat-small", "text-small"]);
        assert_eq!(table.models(), ["big", "small"]);
        assert_eq!(table.model_of("big"), Some("big"));
        assert_eq!(task_weights(&tasks)["big"], 0.4);
        // A competition request takes the task's route; a task on both routes, chat.
        assert_eq!(table.route_of("text-small"), Some(Route::Completions));
        assert_eq!(table.route_of("chat-small"), Some(Route::Chat));
        assert_eq!(table.route_of("big"), Some(Route::Chat));
        assert_eq!(table.route_of("m"), None);
        assert_eq!(none.route_of("completion"), Some(Route::Completions));
        assert_eq!(none.route_of("chat"), Some(Route::Chat));
    }
}
