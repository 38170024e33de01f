//! Several tasks served at once (`[[tasks]]`): a request's model picks its task, an unknown
//! model is OpenAI's 404 `model_not_found`, requests go only to miners that declare the task,
//! the task's name is recorded, and what miners declare reaches the chain view's capacities.

mod common;

use std::collections::BTreeMap;

use common::{KEY, MODEL, StubOptions, start, start_with};
use serde_json::{Value, json};

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_go_to_the_miners_of_their_task_and_unknown_models_are_404() {
    let declares_chat = StubOptions { tasks: &[("chat-a", 4)], ..StubOptions::capacity(4) };
    let declares_other = StubOptions { tasks: &[("unrelated", 4)], ..StubOptions::capacity(4) };
    let tasks = json!([
        {"name": "chat-a", "model": MODEL, "weight": 0.6, "route": "chat"},
        {"name": "big", "model": "big-model", "weight": 0.4},
    ]);
    let mut net = start_with(&[declares_chat, declares_other], json!({"tasks": tasks}), None).await;
    let url = format!("http://{}/v1/chat/completions", net.address);

    let unknown = net.http.post(&url).bearer_auth(KEY).json(&chat("nope")).send().await.expect("answers");
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.expect("json");
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");

    let models: Value = net
        .http
        .get(format!("http://{}/v1/models", net.address))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = models["data"].as_array().expect("a list").iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["big-model", MODEL]);

    // No miner declares `big`: refused, nothing sent.
    let unserved = net.http.post(&url).bearer_auth(KEY).json(&chat("big-model")).send().await.expect("answers");
    assert_eq!(unserved.status(), 503);

    for _ in 0..8 {
        let ok = net.http.post(&url).bearer_auth(KEY).json(&chat(MODEL)).send().await.expect("answers");
        assert_eq!(ok.status(), 200);
    }
    let declared = net.view.metagraph();
    assert_eq!(declared.neurons[0].capacities, BTreeMap::from([("chat-a".to_string(), 4)]));
    assert!(declared.neurons[1].capacities.is_empty(), "a task the gateway does not serve is not kept");

    let entries = net.entries().await;
    assert_eq!(entries.len(), 8, "only the served requests are recorded");
    for e in &entries {
        assert_eq!((e.record.uid, e.task.as_str()), (0, "chat-a"), "only the miner declaring the task serves it");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tasks_an_old_miner_serves_both_route_tasks_with_its_capacity() {
    let mut net = start(&[3], json!({})).await;
    let ok = net.chat("hello", false).send().await.expect("answers");
    assert_eq!(ok.status(), 200);
    let capacities = net.view.metagraph().neurons[0].capacities.clone();
    assert_eq!(capacities, BTreeMap::from([("chat".to_string(), 3), ("completion".to_string(), 3)]));
    let entries = net.entries().await;
    assert_eq!(entries.iter().map(|e| e.task.as_str()).collect::<Vec<_>>(), ["chat"]);
}

/// `synthetic_mode = "capacity"`: each period every miner is sent a fraction of what it declared
/// for each task, and a miner declaring none of the served tasks is sent nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_paced_load_queries_each_declaring_miner_for_its_task() {
    let big = StubOptions { tasks: &[("chat-a", 8)], ..StubOptions::capacity(8) };
    let small = StubOptions { tasks: &[("chat-a", 2)], ..StubOptions::capacity(8) };
    let none = StubOptions { tasks: &[("unrelated", 8)], ..StubOptions::capacity(8) };
    let gateway = json!({
        "tasks": [{"name": "chat-a", "model": MODEL, "weight": 1.0, "route": "chat"}],
        "synthetic_mode": "capacity", "synthetic_period_s": 1.0, "synthetic_per_capacity": 50.0,
        "max_tokens": 16,
    });
    let mut net = start_with(&[big, small, none], gateway, None).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let entries = net.entries().await;
    let sent = |uid: u16| entries.iter().filter(|e| e.record.uid == uid).count();
    // At least the lightest fraction (0.04) of capacity × 50 each period: 16 and 4.
    assert!(sent(0) >= 16, "uid 0 got {}", sent(0));
    assert!(sent(1) >= 4, "uid 1 got {}", sent(1));
    assert_eq!(sent(2), 0, "a miner not declaring the task is not queried for it");
    assert!(entries.iter().all(|e| e.task == "chat-a" && e.record.kind == assay_ledger::RequestKind::Synthetic));
}
