//! A fake OpenAI-compatible server for tests/llm_connector.rs: actix-web on 127.0.0.1, its own
//! thread and actix system, `POST /v1/chat/completions` answering with a scripted SSE stream
//! chosen by the request's `model` (or an HTTP error), and recording what it was sent.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::{json, Value};

/// What the fake server saw: each request's JSON body and Authorization header.
#[derive(Default)]
pub struct Seen {
    pub bodies: Vec<Value>,
    pub auth: Vec<Option<String>>,
}

/// One step of a scripted response body: wait, then send bytes (or break the connection).
enum Step {
    Send(Duration, String),
    Cut,
}

fn chunk(content: &str) -> String {
    let c = json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
    format!("data: {c}\n\n")
}

fn finish_and_done(reason: &str) -> Vec<String> {
    let stop = json!({"id": "c1", "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]});
    let usage = json!({"id": "c1", "object": "chat.completion.chunk", "choices": [],
        "usage": {"prompt_tokens": 321, "completion_tokens": 12, "total_tokens": 333}});
    vec![
        format!("data: {stop}\n\n"),
        format!("data: {usage}\n\n"),
        "data: [DONE]\n\n".into(),
    ]
}

/// The content split in pieces of ~7 characters, as a model streams tokens.
fn streamed(content: &str, gap: Duration) -> Vec<Step> {
    streamed_until(content, gap, "stop")
}

fn streamed_until(content: &str, gap: Duration, reason: &str) -> Vec<Step> {
    let chars: Vec<char> = content.chars().collect();
    let mut steps: Vec<Step> = chars
        .chunks(7)
        .map(|p| Step::Send(gap, chunk(&p.iter().collect::<String>())))
        .collect();
    steps.extend(
        finish_and_done(reason)
            .into_iter()
            .map(|s| Step::Send(gap, s)),
    );
    steps
}

pub const ANSWER: &str = r#"{"action": "answer", "text": "We roast on Tuesdays and ship on \"Wednesdays\".", "citations": [1]}"#;

fn script(model: &str) -> Result<Vec<Step>, u16> {
    let none = Duration::ZERO;
    Ok(match model {
        "normal" => streamed(ANSWER, none),
        "handoff" => streamed(
            r#"{"action":"handoff","text":"Let me get a person.","citations":[]}"#,
            none,
        ),
        "malformed" => streamed(r#"{"action": "answer" "text": "We ship"}"#, none),
        "truncated" => streamed_until(
            r#"{"action": "answer", "text": "We ship on Wed"#,
            none,
            "length",
        ),
        "bad_citation" => streamed(
            r#"{"action":"answer","text":"We ship daily.","citations":[7]}"#,
            none,
        ),
        "slow_first" => {
            let mut s = vec![Step::Send(Duration::from_secs(5), chunk("{"))];
            s.extend(streamed(&ANSWER[1..], none));
            s
        }
        "slow_total" => streamed(ANSWER, Duration::from_millis(200)),
        "cut" => {
            let mut s: Vec<Step> = streamed(ANSWER, none).into_iter().take(4).collect();
            s.push(Step::Cut);
            s
        }
        "http500" => return Err(500),
        other => panic!("no script for model {other}"),
    })
}

async fn completions(
    req: HttpRequest,
    body: web::Json<Value>,
    seen: web::Data<Mutex<Seen>>,
) -> HttpResponse {
    let model = body["model"].as_str().unwrap_or_default().to_string();
    {
        let mut seen = seen.lock();
        seen.bodies.push(body.into_inner());
        seen.auth.push(
            req.headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        );
    }
    match script(&model) {
        Err(status) => HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .json(json!({"error": {"message": "scripted failure"}})),
        Ok(steps) => {
            let body = futures_util::stream::iter(steps).then(|step| async move {
                match step {
                    Step::Send(wait, text) => {
                        tokio::time::sleep(wait).await;
                        Ok(web::Bytes::from(text))
                    }
                    Step::Cut => Err(actix_web::error::ErrorInternalServerError("cut")),
                }
            });
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(body)
        }
    }
}

/// Starts the fake server on its own thread and actix system; returns its base URL.
pub fn start_server() -> (String, Arc<Mutex<Seen>>) {
    let seen = web::Data::new(Mutex::new(Seen::default()));
    let shared = seen.clone().into_inner();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(seen.clone())
                    .route("/v1/chat/completions", web::post().to(completions))
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("bind loopback");
            let port = server.addrs()[0].port();
            tx.send(port).expect("report port");
            server.run().await.expect("fake server runs");
        })
    });
    let port = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("fake server started");
    (format!("http://127.0.0.1:{port}/v1"), shared)
}
