//! Counters in DynamoDB: the same contract as the in-memory store, exact
//! under duplicate delivery, out-of-order delivery and concurrent invocations.
//!
//! Single-table layout (partition key `pk`, sort key `sk`, both strings; TTL
//! attribute `expires_at`, epoch seconds):
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | counter | `GROUP#<group id>` | `COUNTER` | `rule_id`, `group_fields` (a map: `account`, `user`, `src`, `issuer` for a detection; the `group-by` fields for a correlation), `cnt`, `first_seen_ms`, `last_seen_ms`, `first_seen`, `last_seen`, `last_notified_ms`, `version`, `expires_at` |
//! | event | `EVENT#<rule id>#<eventID>` | `EVENT` | `group_pk`, `event_time`, `pending` (JSON, while a notification is owed), `notified_at`, `expires_at` |
//!
//! One detection: read the counter (consistent), compute the next counters
//! with the domain's pure policy, then one transaction puts the event item
//! (only if absent: each eventID counts once) and the counter (only if its
//! version is unchanged: no lost update, one writer per count, so one
//! notification per decision). A version conflict re-reads and retries with
//! jittered backoff. In order, a detection costs 2 requests, 4 when it
//! notifies (spending from the rule-hour's budget, and the confirmation
//! that clears `pending`); the budget's items are in [`budget`].

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use crate::domain::budget::{BudgetKey, Digest, Folded, OwedDigest, Spend};
use crate::domain::correlation::Alert;
use crate::domain::counter::{Counters, GroupKey, NotifyPolicy, Sighting, advance};
use crate::domain::hash::bounded;
use crate::domain::store::{
    BudgetStore, Correlated, CounterStore, Feed, PendingNotification, Recorded, StoreError,
};
use crate::domain::time::Timestamp;

type Item = HashMap<String, AttributeValue>;

/// Attempts before giving up on a hot group (the invocation then fails and is
/// retried, nothing counted). 100 racing writers on one group needed at most
/// 23 in the tests; 100 attempts with the backoff below stay well inside the
/// function's timeout.
const MAX_ATTEMPTS: u32 = 100;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention_secs: i64,
}

/// A failed call: a request the SDK could not even build is a bug; one
/// DynamoDB refuses as invalid (`ValidationException`: a key or item past
/// its limits) is refused again; any other failure may pass.
fn call_failed<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    SdkError<E, R>: std::error::Error + Send + Sync + 'static,
    E: ProvideErrorMetadata,
{
    move |e| match e {
        SdkError::ConstructionFailure(_) => StoreError::InvalidRequest {
            operation,
            source: Box::new(e),
        },
        SdkError::ServiceError(ref s) if s.err().code() == Some("ValidationException") => {
            StoreError::Rejected {
                operation,
                message: s
                    .err()
                    .message()
                    .unwrap_or("ValidationException")
                    .to_owned(),
            }
        }
        e => StoreError::Unavailable {
            operation,
            source: Box::new(e),
        },
    }
}

/// A conditional write's result: a failed condition is an answer (another
/// writer got there first, or the item is gone), not an error.
fn unless_condition_failed<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    operation: &'static str,
) -> Result<(), StoreError>
where
    SdkError<E, R>: std::error::Error + Send + Sync + 'static,
    E: ProvideErrorMetadata,
{
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(&e, SdkError::ServiceError(s)
                if s.err().code() == Some("ConditionalCheckFailedException")) =>
        {
            Ok(())
        }
        Err(e) => Err(call_failed(operation)(e)),
    }
}

/// A request part that could not be built (a bug).
fn invalid(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_dynamodb::error::BuildError) -> StoreError {
    move |e| StoreError::InvalidRequest {
        operation,
        source: Box::new(e),
    }
}

/// The group's fields as a map, for people reading the table.
fn group_fields(key: &GroupKey) -> AttributeValue {
    AttributeValue::M(
        key.fields
            .iter()
            .map(|(name, value)| (name.clone(), AttributeValue::S(value.clone())))
            .collect(),
    )
}

fn string_attr(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn number_attr(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_n(item: &Item, key: &str, pk: &str) -> Result<Option<i64>, StoreError> {
    match item.get(key) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| StoreError::Corrupt {
            key: pk.into(),
            message: format!("{key} is not a whole number: {v}"),
        }),
        Some(other) => Err(StoreError::Corrupt {
            key: pk.into(),
            message: format!("{key} is not a number: {other:?}"),
        }),
    }
}

fn need_n(item: &Item, key: &str, pk: &str) -> Result<i64, StoreError> {
    get_n(item, key, pk)?.ok_or_else(|| StoreError::Corrupt {
        key: pk.into(),
        message: format!("{key} is missing"),
    })
}

/// DynamoDB's most bytes in a partition key and in a sort key.
pub const MAX_PARTITION_KEY_BYTES: usize = 2_048;
pub const MAX_SORT_KEY_BYTES: usize = 1_024;

/// `text` as a partition key: within DynamoDB's limit whatever its parts
/// (a readable prefix and a hash past it; see [`bounded`]).
fn partition_key(text: String) -> String {
    bounded(text, MAX_PARTITION_KEY_BYTES)
}

/// `text` as a sort key, within DynamoDB's limit.
fn sort_key(text: String) -> String {
    bounded(text, MAX_SORT_KEY_BYTES)
}

/// A short random pause that grows with the attempt, so racing writers spread out.
async fn backoff(attempt: u32) {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let ceiling = 5u64 << attempt.min(5);
    tokio::time::sleep(Duration::from_millis(1 + h.finish() % ceiling)).await;
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, retention_days: u32) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            retention_secs: i64::from(retention_days) * 86_400,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The items of `keys` (each a state and a counter), read consistently
    /// in one request; `None` when DynamoDB left some unread.
    async fn read_all(&self, keys: &[(String, String)]) -> Result<Option<Vec<Item>>, StoreError> {
        let mut request =
            aws_sdk_dynamodb::types::KeysAndAttributes::builder().consistent_read(true);
        for (state_pk, group_pk) in keys {
            request = request
                .keys(Self::key(state_pk, "STATE"))
                .keys(Self::key(group_pk, "COUNTER"));
        }
        let request = request
            .build()
            .map_err(invalid("build BatchGetItem keys"))?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, request)
            .send()
            .await
            .map_err(call_failed("BatchGetItem correlation"))?;
        if out
            .unprocessed_keys()
            .is_some_and(|u| u.values().any(|k| !k.keys().is_empty()))
        {
            return Ok(None);
        }
        let items = out
            .responses()
            .and_then(|r| r.get(&self.table))
            .cloned()
            .unwrap_or_default();
        Ok(Some(items))
    }

    fn expires_at(&self) -> AttributeValue {
        number_attr(Timestamp::now().as_millis() / 1000 + self.retention_secs)
    }

    fn group_pk(sighting: &Sighting) -> String {
        partition_key(format!("GROUP#{}", sighting.key.id()))
    }

    fn event_pk(sighting: &Sighting) -> String {
        Self::event_pk_of(&sighting.key.rule_id, &sighting.event_id)
    }

    fn event_pk_of(rule_id: &str, event_id: &str) -> String {
        partition_key(format!("EVENT#{rule_id}#{event_id}"))
    }

    /// The group's counters and their version, read consistently.
    pub async fn counters(&self, group_pk: &str) -> Result<Option<(Counters, i64)>, StoreError> {
        match self.get(group_pk, "COUNTER", "GetItem counter").await? {
            Some(item) => Self::counters_of(&item, group_pk).map(Some),
            None => Ok(None),
        }
    }

    /// A counter item's counters and version.
    fn counters_of(item: &Item, group_pk: &str) -> Result<(Counters, i64), StoreError> {
        let last_notified = get_n(item, "last_notified_ms", group_pk)?.map(Timestamp::from_millis);
        let counters = Counters {
            count: u64::try_from(need_n(item, "cnt", group_pk)?).unwrap_or(0),
            first_seen: Timestamp::from_millis(need_n(item, "first_seen_ms", group_pk)?),
            last_seen: Timestamp::from_millis(need_n(item, "last_seen_ms", group_pk)?),
            last_notified,
        };
        Ok((counters, need_n(item, "version", group_pk)?))
    }

    fn pending_of(item: &Item, pk: &str) -> Result<Option<PendingNotification>, StoreError> {
        match item.get("pending") {
            None => Ok(None),
            Some(AttributeValue::S(json)) => {
                serde_json::from_str(json)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        key: pk.into(),
                        message: format!("pending: {e}"),
                    })
            }
            Some(other) => Err(StoreError::Corrupt {
                key: pk.into(),
                message: format!("pending is {other:?}"),
            }),
        }
    }

    /// One item, read consistently (a write just before is always seen).
    async fn get(
        &self,
        pk: &str,
        sk: &str,
        operation: &'static str,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", string_attr(pk))
            .key("sk", string_attr(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(call_failed(operation))?;
        Ok(out.item)
    }

    fn counter_item(&self, sighting: &Sighting, c: &Counters, version: i64) -> Item {
        let mut item: Item = [
            ("pk", string_attr(Self::group_pk(sighting))),
            ("sk", string_attr("COUNTER")),
            ("rule_id", string_attr(&sighting.key.rule_id)),
            ("group_fields", group_fields(&sighting.key)),
            ("cnt", number_attr(c.count)),
            ("first_seen_ms", number_attr(c.first_seen.as_millis())),
            ("last_seen_ms", number_attr(c.last_seen.as_millis())),
            ("first_seen", string_attr(c.first_seen.to_string())),
            ("last_seen", string_attr(c.last_seen.to_string())),
            ("version", number_attr(version)),
            ("expires_at", self.expires_at()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(t) = c.last_notified {
            item.insert("last_notified_ms".into(), number_attr(t.as_millis()));
        }
        item
    }

    fn event_put(
        &self,
        sighting: &Sighting,
        pending: Option<&PendingNotification>,
        alert: Option<&Alert>,
    ) -> Result<Put, StoreError> {
        let mut item: Item = [
            ("pk", string_attr(Self::event_pk(sighting))),
            ("sk", string_attr("EVENT")),
            ("group_pk", string_attr(Self::group_pk(sighting))),
            ("event_time", string_attr(sighting.event_time.to_string())),
            ("expires_at", self.expires_at()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(p) = pending {
            let json = serde_json::to_string(p).map_err(|e| StoreError::Corrupt {
                key: Self::event_pk(sighting),
                message: e.to_string(),
            })?;
            item.insert("pending".into(), string_attr(json));
        }
        if let Some(a) = alert {
            let json = serde_json::to_string(a).map_err(|e| StoreError::Corrupt {
                key: Self::event_pk(sighting),
                message: e.to_string(),
            })?;
            item.insert("alert".into(), string_attr(json));
        }
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(invalid("build Put event"))
    }

    fn counter_put(
        &self,
        sighting: &Sighting,
        c: &Counters,
        prev_version: Option<i64>,
    ) -> Result<Put, StoreError> {
        let version = prev_version.map_or(1, |v| v + 1);
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.counter_item(sighting, c, version)));
        put = match prev_version {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", number_attr(v)),
        };
        put.build().map_err(invalid("build Put counter"))
    }
}

/// What a failed transaction means.
enum Cancelled {
    /// The event item exists: counted before. Holds it when DynamoDB returned it.
    Duplicate(Option<Item>),
    /// Someone else moved the counter first, or a transaction conflict: try again.
    Retry,
    /// An item refused as invalid: refused again on every attempt.
    Refused(StoreError),
}

/// A cancelled transaction one of whose items DynamoDB refused as invalid
/// (`ValidationError`: an item or the transaction past its size limits):
/// refused again on every attempt, so permanent.
fn refused(codes: &[String], operation: &'static str) -> Option<StoreError> {
    codes
        .iter()
        .any(|c| c == "ValidationError")
        .then(|| StoreError::Rejected {
            operation,
            message: format!("cancellation reasons {codes:?}"),
        })
}

fn cancellation(err: &SdkError<TransactWriteItemsError>) -> Option<Cancelled> {
    let codes = cancellation_codes(err)?;
    if let Some(e) = refused(&codes, "TransactWriteItems detection") {
        return Some(Cancelled::Refused(e));
    }
    if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") {
        let item = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
                .cancellation_reasons()
                .first()
                .and_then(|r| r.item().cloned()),
            _ => None,
        };
        return Some(Cancelled::Duplicate(item));
    }
    Some(Cancelled::Retry)
}

/// The code DynamoDB gave for each item of a cancelled transaction
/// (`None` when it was not cancelled: another failure).
pub(super) fn cancellation_codes(err: &SdkError<TransactWriteItemsError>) -> Option<Vec<String>> {
    let TransactWriteItemsError::TransactionCanceledException(e) = err.as_service_error()? else {
        return None;
    };
    Some(
        e.cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None").to_owned())
            .collect(),
    )
}

mod budget;
mod correlate;
mod progress;
mod together;

impl CounterStore for DynamoStore {
    async fn record(
        &self,
        sighting: &Sighting,
        policy: &NotifyPolicy,
    ) -> Result<Recorded, StoreError> {
        let group_pk = Self::group_pk(sighting);
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.counters(&group_pk).await?;
            let (next, notify) = advance(current.as_ref().map(|(c, _)| c), sighting, policy);
            let pending = notify.map(|reason| PendingNotification {
                counters: next,
                reason,
            });
            let result = self
                .client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .put(self.event_put(sighting, pending.as_ref(), None)?)
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .put(self.counter_put(sighting, &next, current.map(|(_, v)| v))?)
                        .build(),
                )
                .send()
                .await;
            match result {
                Ok(_) => {
                    return Ok(Recorded::Counted {
                        counters: next,
                        notify,
                    });
                }
                Err(err) => match cancellation(&err) {
                    Some(Cancelled::Duplicate(item)) => {
                        let event_pk = Self::event_pk(sighting);
                        let item = match item {
                            Some(item) => Some(item),
                            None => self.get(&event_pk, "EVENT", "GetItem event").await?,
                        };
                        let pending = match item {
                            Some(item) => Self::pending_of(&item, &event_pk)?,
                            None => None,
                        };
                        return Ok(Recorded::Duplicate { pending });
                    }
                    Some(Cancelled::Retry) => backoff(attempt).await,
                    Some(Cancelled::Refused(e)) => return Err(e),
                    None => return Err(call_failed("TransactWriteItems")(err)),
                },
            }
        }
        Err(StoreError::Contention {
            group: group_pk,
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn correlate(
        &self,
        feed: &Feed<'_>,
        policy: &NotifyPolicy,
    ) -> Result<Correlated, StoreError> {
        self.correlate_feed(feed, policy).await
    }

    async fn correlate_together(
        &self,
        feeds: &[Feed<'_>],
        policy: &NotifyPolicy,
    ) -> Vec<Result<Correlated, StoreError>> {
        self.correlate_all(feeds, policy).await
    }

    async fn mark_notified(&self, sighting: &Sighting) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", string_attr(Self::event_pk(sighting)))
            .key("sk", string_attr("EVENT"))
            .update_expression("REMOVE #p SET notified_at = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#p", "pending")
            .expression_attribute_values(":t", string_attr(Timestamp::now().to_string()))
            .send()
            .await
            .map_err(call_failed("UpdateItem event"))?;
        Ok(())
    }
}

impl BudgetStore for DynamoStore {
    async fn spend(
        &self,
        key: &BudgetKey,
        sighting: &Sighting,
        budget: u32,
    ) -> Result<Spend, StoreError> {
        self.spend_budget(key, sighting, budget).await
    }

    async fn fold(
        &self,
        key: &BudgetKey,
        sighting: &Sighting,
        folded: &Folded,
    ) -> Result<(), StoreError> {
        self.fold_notification(key, sighting, folded).await
    }

    async fn owed_digests(&self, now: Timestamp) -> Result<Vec<OwedDigest>, StoreError> {
        self.digests_owed(now).await
    }

    async fn digest(&self, owed: &OwedDigest, max_listed: usize) -> Result<Digest, StoreError> {
        self.digest_of(owed, max_listed).await
    }

    async fn mark_digest_sent(&self, digest: &Digest) -> Result<(), StoreError> {
        self.digest_sent(digest).await
    }
}
