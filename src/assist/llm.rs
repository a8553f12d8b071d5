//! One LLM client per arbiter thread. reqwest's pooled connections belong to the runtime that
//! opened them, and every conversation actor of an arbiter runs on that arbiter's runtime, so
//! the client lives in a thread-local, made on first use; the breakers and budgets it consults
//! are the node's (`LlmShared`), shared by every thread.

use std::cell::RefCell;
use std::sync::Arc;

use crate::bot::llm::{LlmClient, LlmFailure, LlmShared};

thread_local! {
    static CLIENT: RefCell<Option<(Arc<LlmShared>, LlmClient)>> = const { RefCell::new(None) };
}

/// This thread's client for the node's `shared` state (a thread that served another node in
/// the same process, as tests do, gets a fresh one).
pub fn client(shared: &Arc<LlmShared>) -> Result<LlmClient, LlmFailure> {
    CLIENT.with(|cell| {
        let mut cell = cell.borrow_mut();
        if let Some((owner, client)) = cell.as_ref() {
            if Arc::ptr_eq(owner, shared) {
                return Ok(client.clone());
            }
        }
        let client = LlmClient::new(shared.clone())?;
        *cell = Some((shared.clone(), client.clone()));
        Ok(client)
    })
}
