//! The visitor's own commands, answered by its visitor actor: `start` (the current
//! conversation, or a new one), `page_view` and `leave_email`.

use super::Ctx;
use crate::actors::visitor;
use crate::error::ApiResult;
use crate::protocol::{Done, StartResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Start;

impl Start {
    pub async fn run(self, ctx: &Ctx) -> ApiResult<StartResult> {
        ctx.hub
            .visitor(ctx.visitor()?)
            .ask(visitor::Start { site: ctx.site })
            .await
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageView {
    pub url: String,
    pub title: String,
}

impl PageView {
    pub async fn run(self, ctx: &Ctx) -> ApiResult<Done> {
        ctx.hub
            .visitor(ctx.visitor()?)
            .ask(visitor::PageView {
                site: ctx.site,
                url: self.url,
                title: self.title,
            })
            .await?;
        Ok(Done {})
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeaveEmail {
    pub email: String,
    pub name: Option<String>,
}

impl LeaveEmail {
    pub async fn run(self, ctx: &Ctx) -> ApiResult<Done> {
        ctx.hub
            .visitor(ctx.visitor()?)
            .ask(visitor::LeaveEmail {
                site: ctx.site,
                email: self.email,
                name: self.name,
            })
            .await?;
        Ok(Done {})
    }
}
