//! Correlation state in DynamoDB: one item per (correlation, group), and the
//! alerts counted in the same transaction that moves the state, so that no
//! alert is decided without being counted, and none twice.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | state | `CORR#<group id>` | `STATE` | `state` (JSON), `version`, `expires_at` |
//!
//! An event fed costs two requests: one `BatchGetItem` reads the state and
//! the group's alert counter (consistently), one `TransactWriteItems` puts
//! the state (only if its `version` is unchanged) and, for each alert, its
//! event item (only if absent) and the counter. A feed that changes nothing
//! (a redelivery) costs the read alone, plus one `GetItem` per alert it
//! decided before, to hand back any notification still owed.

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};

use super::{
    DynamoStore, Item, MAX_ATTEMPTS, backoff, call_failed, invalid, number_attr, partition_key,
    string_attr,
};
use crate::domain::correlation::Alert;
use crate::domain::correlation::state::{self, GroupState};
use crate::domain::counter::{
    AlertRecorded, Correlated, Counters, Feed, GroupKey, NotifyPolicy, PendingNotification,
    Recorded, StoreError, advance,
};

fn corrupt(key: &str, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl DynamoStore {
    fn state_pk(feed: &Feed<'_>) -> String {
        Self::state_pk_of(&feed.key)
    }

    fn state_pk_of(key: &GroupKey) -> String {
        partition_key(format!("CORR#{}", key.id()))
    }

    /// A correlation group's state, as the store keeps it (for inspection
    /// and for the contract tests).
    pub async fn correlation_state(
        &self,
        key: &GroupKey,
    ) -> Result<Option<GroupState>, StoreError> {
        let pk = Self::state_pk_of(key);
        let item = self.get(&pk, "STATE", "GetItem correlation state").await?;
        match item {
            None => Ok(None),
            Some(item) => Self::state_of(Some(&item), &pk).map(|(s, _)| Some(s)),
        }
    }

    fn key(pk: &str, sk: &str) -> Item {
        [
            ("pk".to_owned(), string_attr(pk)),
            ("sk".to_owned(), string_attr(sk)),
        ]
        .into()
    }

    /// The group's state and version, and its alert counter and version, in
    /// one consistent read.
    async fn read_both(
        &self,
        state_pk: &str,
        group_pk: &str,
    ) -> Result<(Option<Item>, Option<Item>), StoreError> {
        let keys = KeysAndAttributes::builder()
            .keys(Self::key(state_pk, "STATE"))
            .keys(Self::key(group_pk, "COUNTER"))
            .consistent_read(true)
            .build()
            .map_err(invalid("build BatchGetItem keys"))?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys)
            .send()
            .await
            .map_err(call_failed("BatchGetItem correlation"))?;
        if out
            .unprocessed_keys()
            .is_some_and(|u| u.values().any(|k| !k.keys().is_empty()))
        {
            return Err(StoreError::Unavailable {
                operation: "BatchGetItem correlation",
                source: "DynamoDB left keys unprocessed (throttled); the event is retried".into(),
            });
        }
        let items = out
            .responses()
            .and_then(|r| r.get(&self.table))
            .cloned()
            .unwrap_or_default();
        let find = |pk: &str| {
            items
                .iter()
                .find(|i| matches!(i.get("pk"), Some(AttributeValue::S(p)) if p == pk))
                .cloned()
        };
        Ok((find(state_pk), find(group_pk)))
    }

    fn state_of(item: Option<&Item>, pk: &str) -> Result<(GroupState, Option<i64>), StoreError> {
        let Some(item) = item else {
            return Ok((GroupState::default(), None));
        };
        let json = match item.get("state") {
            Some(AttributeValue::S(json)) => json,
            other => return Err(corrupt(pk, format!("state is {other:?}"))),
        };
        let state = serde_json::from_str(json).map_err(|e| corrupt(pk, format!("state: {e}")))?;
        Ok((state, Some(super::need_n(item, "version", pk)?)))
    }

    fn state_put(
        &self,
        pk: &str,
        state: &GroupState,
        prev: Option<i64>,
    ) -> Result<Put, StoreError> {
        let json = serde_json::to_string(state).map_err(|e| corrupt(pk, e.to_string()))?;
        let item: Item = [
            ("pk", string_attr(pk)),
            ("sk", string_attr("STATE")),
            ("state", string_attr(json)),
            ("version", number_attr(prev.map_or(1, |v| v + 1))),
            ("expires_at", self.expires_at()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match prev {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", number_attr(v)),
        };
        put.build().map_err(invalid("build Put correlation state"))
    }

    /// An alert decided before, with the notification it still owes.
    async fn decided_before(
        &self,
        feed: &Feed<'_>,
        identity: &str,
    ) -> Result<Option<AlertRecorded>, StoreError> {
        let pk = Self::event_pk_of(&feed.key.rule_id, &feed.key.alert_event_id(identity));
        let Some(item) = self.get(&pk, "EVENT", "GetItem alert").await? else {
            return Ok(None);
        };
        let alert: Alert = match item.get("alert") {
            Some(AttributeValue::S(json)) => {
                serde_json::from_str(json).map_err(|e| corrupt(&pk, format!("alert: {e}")))?
            }
            other => return Err(corrupt(&pk, format!("alert is {other:?}"))),
        };
        let pending = Self::pending_of(&item, &pk)?;
        Ok(Some(AlertRecorded {
            sighting: feed.sighting(&alert),
            alert,
            recorded: Recorded::Duplicate { pending },
        }))
    }

    pub(super) async fn correlate_feed(
        &self,
        feed: &Feed<'_>,
        policy: &NotifyPolicy,
    ) -> Result<Correlated, StoreError> {
        let state_pk = Self::state_pk(feed);
        let group_pk = partition_key(format!("GROUP#{}", feed.key.id()));
        for attempt in 0..MAX_ATTEMPTS {
            let (state_item, counter_item) = self.read_both(&state_pk, &group_pk).await?;
            let (before, version) = Self::state_of(state_item.as_ref(), &state_pk)?;
            let counter = counter_item
                .as_ref()
                .map(|i| Self::counters_of(i, &group_pk))
                .transpose()?;
            let tr = state::feed(feed.correlation, &before, &feed.event);
            let mut out = Vec::new();
            for identity in &tr.redelivered {
                out.extend(self.decided_before(feed, identity).await?);
            }
            if !tr.changed {
                return Ok(Correlated {
                    alerts: out,
                    too_late: tr.too_late,
                });
            }
            let mut items = vec![self.state_put(&state_pk, &tr.state, version)?];
            let mut counters: Option<Counters> = counter.map(|(c, _)| c);
            let mut decided = Vec::new();
            for alert in &tr.alerts {
                let sighting = feed.sighting(alert);
                let (next, notify) = advance(counters.as_ref(), &sighting, policy);
                let pending = notify.map(|reason| PendingNotification {
                    counters: next,
                    reason,
                });
                items.push(self.event_put(&sighting, pending.as_ref(), Some(alert))?);
                counters = Some(next);
                decided.push(AlertRecorded {
                    alert: alert.clone(),
                    sighting,
                    recorded: Recorded::Counted {
                        counters: next,
                        notify,
                    },
                });
            }
            if let (Some(last), Some(c)) = (decided.last(), counters.as_ref())
                && !decided.is_empty()
            {
                items.push(self.counter_put(&last.sighting, c, counter.map(|(_, v)| v))?);
            }
            let mut request = self.client.transact_write_items();
            for put in items {
                request = request.transact_items(TransactWriteItem::builder().put(put).build());
            }
            match request.send().await {
                Ok(_) => {
                    out.extend(decided);
                    return Ok(Correlated {
                        alerts: out,
                        too_late: false,
                    });
                }
                // Another writer moved the state or the counter first: read again.
                Err(e) if super::is_cancelled(&e) => backoff(attempt).await,
                Err(e) => return Err(call_failed("TransactWriteItems correlation")(e)),
            }
        }
        Err(StoreError::Contention {
            group: state_pk,
            attempts: MAX_ATTEMPTS,
        })
    }
}
