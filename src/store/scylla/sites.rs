//! ScyllaDB: sites, by id and by public key (`sites_by_key`, claimed with an LWT so two
//! sites never share a key), and the node-wide secrets (first writer wins, by LWT).

use async_trait::async_trait;
use uuid::Uuid;

use scylla::statement::prepared::PreparedStatement;

use super::{backend, corrupt, Preparer, ScyllaStore};
use crate::domain::{Site, SiteId, SiteSettings};
use crate::store::{timed, SiteStore, StoreError, StoreResult};

const SITE_COLS: &str = "id, name, public_key, identity_secret, settings";
type SiteRow = (Uuid, String, String, String, String);

pub(super) struct SiteStatements {
    secret_claim: PreparedStatement,
    secret_get: PreparedStatement,
    get: PreparedStatement,
    put: PreparedStatement,
    list: PreparedStatement,
    key_get: PreparedStatement,
    key_owner: PreparedStatement,
    key_claim: PreparedStatement,
    key_release: PreparedStatement,
}

impl SiteStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> StoreResult<Self> {
        Ok(SiteStatements {
            secret_claim: p
                .lwt("INSERT INTO secrets (name, value) VALUES (?, ?) IF NOT EXISTS")
                .await?,
            secret_get: p
                .serial_read("SELECT value FROM secrets WHERE name = ?")
                .await?,
            get: p
                .read(format!("SELECT {SITE_COLS} FROM sites WHERE id = ?"))
                .await?,
            put: p
                .write(format!(
                    "INSERT INTO sites ({SITE_COLS}) VALUES (?, ?, ?, ?, ?)"
                ))
                .await?,
            list: p.read(format!("SELECT {SITE_COLS} FROM sites")).await?,
            key_get: p
                .read("SELECT site_id FROM sites_by_key WHERE public_key = ?")
                .await?,
            key_owner: p
                .serial_read("SELECT site_id FROM sites_by_key WHERE public_key = ?")
                .await?,
            key_claim: p
                .lwt("INSERT INTO sites_by_key (public_key, site_id) VALUES (?, ?) IF NOT EXISTS")
                .await?,
            key_release: p
                .lwt("DELETE FROM sites_by_key WHERE public_key = ? IF site_id = ?")
                .await?,
        })
    }
}

fn site_from(row: SiteRow) -> StoreResult<Site> {
    let (id, name, public_key, identity_secret, settings) = row;
    Ok(Site {
        id: SiteId(id),
        name,
        public_key,
        identity_secret,
        settings: serde_json::from_str::<SiteSettings>(&settings)
            .map_err(corrupt("site settings"))?,
    })
}

// Uninstrumented lookups shared by several trait methods (each of which is timed once).
impl ScyllaStore {
    pub(super) async fn get_site_row(&self, id: SiteId) -> StoreResult<Option<Site>> {
        self.maybe_row::<SiteRow>(&self.st.sites.get, (id.0,))
            .await?
            .map(site_from)
            .transpose()
    }

    /// Who holds a public key. `serial` reads through Paxos (after a lost claim: it sees the
    /// winner even mid-round); lookups on the widget path use a plain quorum read.
    async fn site_owning_key(&self, public_key: &str, serial: bool) -> StoreResult<Option<Uuid>> {
        let st = if serial {
            &self.st.sites.key_owner
        } else {
            &self.st.sites.key_get
        };
        Ok(self
            .maybe_row::<(Uuid,)>(st, (public_key,))
            .await?
            .map(|(id,)| id))
    }
}

#[async_trait]
impl SiteStore for ScyllaStore {
    async fn secret(&self, name: &str, fresh: &[u8]) -> StoreResult<Vec<u8>> {
        timed("secret", async {
            // First writer wins cluster-wide; everyone then reads the winner back.
            if self.lwt(&self.st.sites.secret_claim, (name, fresh)).await? {
                return Ok(fresh.to_vec());
            }
            self.maybe_row::<(Vec<u8>,)>(&self.st.sites.secret_get, (name,))
                .await?
                .map(|(value,)| value)
                .ok_or_else(|| StoreError::Backend(format!("secret {name:?} vanished")))
        })
        .await
    }

    async fn put_site(&self, site: &Site) -> StoreResult<()> {
        timed("put_site", async {
            let previous = self.get_site_row(site.id).await?;
            // Claim the key first (an LWT), so a site row never points at a key another site
            // owns. Claiming again a key this site already owns is fine.
            if !self
                .lwt(&self.st.sites.key_claim, (&site.public_key, site.id.0))
                .await?
            {
                let owner = self.site_owning_key(&site.public_key, true).await?;
                if owner != Some(site.id.0) {
                    return Err(StoreError::Conflict(format!(
                        "public key {:?} is used by another site",
                        site.public_key
                    )));
                }
            }
            let settings = serde_json::to_string(&site.settings).map_err(backend("encode"))?;
            self.exec(
                &self.st.sites.put,
                (
                    site.id.0,
                    &site.name,
                    &site.public_key,
                    &site.identity_secret,
                    settings,
                ),
            )
            .await?;
            // Free the old key only once the row no longer uses it, and only if it is still ours.
            if let Some(old) = previous.filter(|old| old.public_key != site.public_key) {
                self.lwt(&self.st.sites.key_release, (&old.public_key, site.id.0))
                    .await?;
            }
            Ok(())
        })
        .await
    }

    async fn get_site(&self, id: SiteId) -> StoreResult<Option<Site>> {
        timed("get_site", self.get_site_row(id)).await
    }

    async fn site_by_public_key(&self, public_key: &str) -> StoreResult<Option<Site>> {
        timed("site_by_public_key", async {
            let Some(id) = self.site_owning_key(public_key, false).await? else {
                return Ok(None);
            };
            // A claim whose site row was never written (a crash in put_site) or has moved on
            // to another key finds nothing.
            Ok(self
                .get_site_row(SiteId(id))
                .await?
                .filter(|site| site.public_key == public_key))
        })
        .await
    }

    async fn list_sites(&self) -> StoreResult<Vec<Site>> {
        timed("list_sites", async {
            // A full scan, paged: there are few sites and only admins list them.
            self.rows::<SiteRow>(&self.st.sites.list, ())
                .await?
                .into_iter()
                .map(site_from)
                .collect()
        })
        .await
    }
}
