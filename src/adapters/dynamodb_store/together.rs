//! A record's baselines and impossible travel in two requests: one
//! consistent `BatchGetItem` of every group's state and alert counter, one
//! `TransactWriteItems` that moves every state that changed and counts
//! every alert. When they do not fit (more than 100 items), when a feed
//! was fed before (its alerts are handed back one by one), or when the
//! transaction is cancelled (another writer moved first, an alert counted
//! before), nothing was written, and each feed goes its own way
//! ([`DynamoStore::correlate_feed`]), which reads again and retries.

use aws_sdk_dynamodb::types::AttributeValue;

use super::correlate::MAX_TRANSACT_ITEMS;
use super::{DynamoStore, partition_key};
use crate::domain::correlation::state;
use crate::domain::counter::{Counters, NotifyPolicy};
use crate::domain::store::{Correlated, Feed, StoreError};

impl DynamoStore {
    pub(super) async fn correlate_all(
        &self,
        feeds: &[Feed<'_>],
        policy: &NotifyPolicy,
    ) -> Vec<Result<Correlated, StoreError>> {
        if feeds.len() > 1 && feeds.len() * 2 <= MAX_TRANSACT_ITEMS {
            // Otherwise each its own way: it reads again, and retries or
            // fails alone.
            if let Ok(Some(done)) = self.try_together(feeds, policy).await {
                return done.into_iter().map(Ok).collect();
            }
        }
        let mut out = Vec::with_capacity(feeds.len());
        for feed in feeds {
            out.push(self.correlate_feed(feed, policy).await);
        }
        out
    }

    /// Every feed in one read and one transaction; `None` when they cannot
    /// go together (nothing written).
    async fn try_together(
        &self,
        feeds: &[Feed<'_>],
        policy: &NotifyPolicy,
    ) -> Result<Option<Vec<Correlated>>, StoreError> {
        let keys: Vec<(String, String)> = feeds
            .iter()
            .map(|f| {
                (
                    Self::state_pk_of(&f.key),
                    partition_key(format!("GROUP#{}", f.key.id())),
                )
            })
            .collect();
        let Some(items) = self.read_all(&keys).await? else {
            return Ok(None);
        };
        let find = |pk: &str| {
            items
                .iter()
                .find(|i| matches!(i.get("pk"), Some(AttributeValue::S(p)) if p == pk))
        };
        let mut puts = Vec::new();
        let mut done = Vec::with_capacity(feeds.len());
        for (feed, (state_pk, group_pk)) in feeds.iter().zip(&keys) {
            let (before, version) = Self::state_of(find(state_pk), state_pk)?;
            let counter = find(group_pk)
                .map(|i| Self::counters_of(i, group_pk))
                .transpose()?;
            let tr = state::feed(feed.correlation, &before, &feed.event);
            if !tr.redelivered.is_empty() {
                return Ok(None);
            }
            if !tr.changed {
                done.push(Correlated {
                    alerts: Vec::new(),
                    too_late: tr.too_late,
                });
                continue;
            }
            puts.push(self.state_put(
                state_pk,
                &tr.state,
                version,
                state::keep_ms(feed.correlation),
            )?);
            let mut counters: Option<Counters> = counter.map(|(c, _)| c);
            let mut alerts = Vec::new();
            for alert in &tr.alerts {
                let (put, recorded) = self.alert_put(feed, alert, &mut counters, policy)?;
                puts.push(put);
                alerts.push(recorded);
            }
            if let (Some(last), Some(c)) = (alerts.last(), counters.as_ref()) {
                puts.push(self.counter_put(&last.sighting, c, counter.map(|(_, v)| v))?);
            }
            done.push(Correlated {
                alerts,
                too_late: tr.too_late,
            });
        }
        if puts.is_empty() {
            return Ok(Some(done));
        }
        if puts.len() > MAX_TRANSACT_ITEMS {
            return Ok(None);
        }
        Ok(self.transact(puts).await.is_ok().then_some(done))
    }
}
