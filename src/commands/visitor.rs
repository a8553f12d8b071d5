//! The visitor's own commands, answered by its visitor actor: `start` (the current
//! conversation, or a new one), `page_view` and `leave_email`.

use std::future::Future;

use super::Ctx;
use crate::actors::visitor;
use crate::error::ApiResult;
use crate::protocol::{Done, StartResult};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Start {
    /// The trigger rule whose proactive message the visitor answered (stored on creation).
    pub trigger: Option<u32>,
    /// The widget's language.
    pub lang: Option<String>,
}

impl Start {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<StartResult>> + 'static {
        let started = ctx.visitor().map(|id| {
            ctx.hub.visitor(id).ask(visitor::Start {
                site: ctx.site,
                trigger: self.trigger,
                lang: self.lang,
            })
        });
        async move { started?.await }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageView {
    pub url: String,
    pub title: String,
}

impl PageView {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<Done>> + 'static {
        let viewed = ctx.visitor().map(|id| {
            ctx.hub.visitor(id).ask(visitor::PageView {
                site: ctx.site,
                url: self.url,
                title: self.title,
            })
        });
        async move {
            viewed?.await?;
            Ok(Done {})
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeaveEmail {
    pub email: String,
    pub name: Option<String>,
}

impl LeaveEmail {
    pub fn run(self, ctx: &Ctx) -> impl Future<Output = ApiResult<Done>> + 'static {
        let left = ctx.visitor().map(|id| {
            ctx.hub.visitor(id).ask(visitor::LeaveEmail {
                site: ctx.site,
                email: self.email,
                name: self.name,
            })
        });
        async move {
            left?.await?;
            Ok(Done {})
        }
    }
}
