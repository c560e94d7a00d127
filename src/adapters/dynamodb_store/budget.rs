//! The notification budget and its digests in DynamoDB.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | budget | `BUDGET#<rule id>#<account>#<hour>` | `HOUR` | `used`, `rule_id`, `account`, `hour`, `expires_at` |
//! | message sent | `BUDGET#<rule id>#<account>#<hour>` | `SENT#<group id>#<eventID>` | `expires_at` |
//! | folded | `BUDGET#<rule id>#<account>#<hour>` | `FOLDED#<group id>#<eventID>` | `entry` (JSON), `expires_at` |
//! | digest owed | `DIGESTS` | `<hour>#<rule id>#<account>` | `budget_pk`, `rule_id`, `account`, `urgent`, `hour_ms`, `folded`, `listed`, `expires_at` |
//!
//! Spending is one transaction: the sent item (only if absent), the budget
//! (`used` below the budget), and a check that the sighting was not folded.
//! A sent item that exists means a redelivery that spent before; a spent
//! budget means fold. Folding is one transaction: the folded item (only if
//! absent) and `folded` counted on the digest's item. The sweep reads the
//! small `DIGESTS` partition (one item per flooded rule-hour) and, for a
//! due one, its folded items.

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};

use super::{
    DynamoStore, Item, MAX_ATTEMPTS, backoff, call_failed, cancellation_codes, get_n, invalid,
    need_n, number_attr, partition_key, refused, sort_key, string_attr, unless_condition_failed,
};
use crate::domain::budget::{BudgetKey, Digest, Folded, OwedDigest, Spend, keep, lists_latest};
use crate::domain::counter::Sighting;
use crate::domain::store::StoreError;
use crate::domain::time::Timestamp;

const DIGESTS_PK: &str = "DIGESTS";

fn failed(codes: &[String], i: usize) -> bool {
    codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed")
}

fn corrupt(key: &str, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl DynamoStore {
    // An empty account is a digest owed before budgets were kept per
    // account (its items have no account): its keys are as they were then.
    fn budget_pk(key: &BudgetKey) -> String {
        partition_key(match key.account.as_str() {
            "" => format!("BUDGET#{}#{}", key.rule_id, key.hour),
            account => format!("BUDGET#{}#{account}#{}", key.rule_id, key.hour),
        })
    }

    fn digest_sk(key: &BudgetKey) -> String {
        sort_key(match key.account.as_str() {
            "" => format!("{}#{}", key.hour, key.rule_id),
            account => format!("{}#{}#{account}", key.hour, key.rule_id),
        })
    }

    fn sighting_sk(prefix: &str, s: &Sighting) -> String {
        sort_key(format!("{prefix}#{}#{}", s.key.id(), s.event_id))
    }

    pub(super) async fn spend_budget(
        &self,
        key: &BudgetKey,
        s: &Sighting,
        budget: u32,
    ) -> Result<Spend, StoreError> {
        let pk = Self::budget_pk(key);
        for attempt in 0..MAX_ATTEMPTS {
            let sent = Put::builder()
                .table_name(&self.table)
                .item("pk", string_attr(&pk))
                .item("sk", string_attr(Self::sighting_sk("SENT", s)))
                .item("expires_at", self.expires_at())
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(invalid("build Put budget sent"))?;
            let used = Update::builder()
                .table_name(&self.table)
                .key("pk", string_attr(&pk))
                .key("sk", string_attr("HOUR"))
                .update_expression(
                    "ADD used :one SET rule_id = :rule, account = :account, #h = :hour, \
                     expires_at = :exp",
                )
                .condition_expression("attribute_not_exists(used) OR used < :budget")
                .expression_attribute_names("#h", "hour")
                .expression_attribute_values(":one", number_attr(1))
                .expression_attribute_values(":budget", number_attr(budget))
                .expression_attribute_values(":rule", string_attr(&key.rule_id))
                .expression_attribute_values(":account", string_attr(&key.account))
                .expression_attribute_values(":hour", string_attr(key.hour.to_string()))
                .expression_attribute_values(":exp", self.expires_at())
                .build()
                .map_err(invalid("build Update budget"))?;
            let not_folded = ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", string_attr(&pk))
                .key("sk", string_attr(Self::sighting_sk("FOLDED", s)))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(invalid("build ConditionCheck folded"))?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(sent).build())
                .transact_items(TransactWriteItem::builder().update(used).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(not_folded)
                        .build(),
                )
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Spend::Within),
                Err(err) => err,
            };
            let Some(codes) = cancellation_codes(&err) else {
                return Err(call_failed("TransactWriteItems budget")(err));
            };
            if let Some(e) = refused(&codes, "TransactWriteItems budget") {
                return Err(e);
            }
            if failed(&codes, 0) {
                // Sent before: a redelivery whose confirmation was lost.
                return Ok(Spend::Within);
            }
            if failed(&codes, 1) || failed(&codes, 2) {
                return Ok(Spend::Folded);
            }
            backoff(attempt).await;
        }
        Err(StoreError::Contention {
            group: pk,
            attempts: MAX_ATTEMPTS,
        })
    }

    pub(super) async fn fold_notification(
        &self,
        key: &BudgetKey,
        s: &Sighting,
        folded: &Folded,
    ) -> Result<(), StoreError> {
        let pk = Self::budget_pk(key);
        let entry = serde_json::to_string(folded).map_err(|e| corrupt(&pk, e.to_string()))?;
        for attempt in 0..MAX_ATTEMPTS {
            let item = Put::builder()
                .table_name(&self.table)
                .item("pk", string_attr(&pk))
                .item("sk", string_attr(Self::sighting_sk("FOLDED", s)))
                .item("entry", string_attr(&entry))
                .item("expires_at", self.expires_at())
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(invalid("build Put folded"))?;
            let owed = Update::builder()
                .table_name(&self.table)
                .key("pk", string_attr(DIGESTS_PK))
                .key("sk", string_attr(Self::digest_sk(key)))
                .update_expression(
                    "ADD folded :one SET budget_pk = :pk, rule_id = :rule, account = :account, \
                     urgent = :urgent, hour_ms = :hour, expires_at = :exp, \
                     listed = if_not_exists(listed, :zero)",
                )
                .expression_attribute_values(":account", string_attr(&key.account))
                .expression_attribute_values(
                    ":urgent",
                    aws_sdk_dynamodb::types::AttributeValue::Bool(key.urgent),
                )
                .expression_attribute_values(":one", number_attr(1))
                .expression_attribute_values(":zero", number_attr(0))
                .expression_attribute_values(":pk", string_attr(&pk))
                .expression_attribute_values(":rule", string_attr(&key.rule_id))
                .expression_attribute_values(":hour", number_attr(key.hour.as_millis()))
                .expression_attribute_values(":exp", self.expires_at())
                .build()
                .map_err(invalid("build Update digest owed"))?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(item).build())
                .transact_items(TransactWriteItem::builder().update(owed).build())
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let Some(codes) = cancellation_codes(&err) else {
                return Err(call_failed("TransactWriteItems fold")(err));
            };
            if let Some(e) = refused(&codes, "TransactWriteItems fold") {
                return Err(e);
            }
            if failed(&codes, 0) {
                return Ok(()); // folded before
            }
            backoff(attempt).await;
        }
        Err(StoreError::Contention {
            group: pk,
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Every item of partition `pk` whose sort key begins with `prefix`
    /// (and that passes `filter`), a page at a time: `each` sees every item
    /// and keeps what it needs, so memory stays bounded by a page.
    async fn query_pages(
        &self,
        pk: &str,
        prefix: Option<&str>,
        filter: Option<&str>,
        mut each: impl FnMut(Item) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", string_attr(pk))
                .set_exclusive_start_key(start);
            q = match prefix {
                Some(p) => q
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", string_attr(p)),
                None => q.key_condition_expression("pk = :pk"),
            };
            if let Some(f) = filter {
                q = q.filter_expression(f);
            }
            let out = q.send().await.map_err(call_failed("Query"))?;
            for item in out.items.unwrap_or_default() {
                each(item)?;
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(()),
            }
        }
    }

    /// The owed items of the `DIGESTS` partition whose folds outnumber what
    /// was listed (filtered by DynamoDB), and due at `now`.
    pub(super) async fn digests_owed(&self, now: Timestamp) -> Result<Vec<OwedDigest>, StoreError> {
        let mut owed = Vec::new();
        self.query_pages(DIGESTS_PK, None, Some("folded > listed"), |item| {
            let sk = match item.get("sk") {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.clone(),
                _ => return Err(corrupt(DIGESTS_PK, "an item without a string sk")),
            };
            let rule_id = match item.get("rule_id") {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.clone(),
                _ => return Err(corrupt(&sk, "rule_id is missing")),
            };
            let account = match item.get("account") {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.clone(),
                _ => String::new(),
            };
            let urgent = matches!(
                item.get("urgent"),
                Some(aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            );
            let key = BudgetKey {
                hour: Timestamp::from_millis(need_n(&item, "hour_ms", &sk)?),
                rule_id,
                account,
                urgent,
            };
            let folded = need_n(&item, "folded", &sk)?;
            let listed = get_n(&item, "listed", &sk)?.unwrap_or(0);
            if key.is_due(now) && folded > listed {
                owed.push(OwedDigest {
                    key,
                    folded: u64::try_from(folded).unwrap_or(0),
                    listed: u64::try_from(listed).unwrap_or(0),
                });
            }
            Ok(())
        })
        .await?;
        Ok(owed)
    }

    /// The digest `owed`: its folded items no digest listed read a page at
    /// a time, the `max_listed` earliest (a first digest) or latest (a
    /// later one) kept.
    pub(super) async fn digest_of(
        &self,
        owed: &OwedDigest,
        max_listed: usize,
    ) -> Result<Digest, StoreError> {
        let pk = Self::budget_pk(&owed.key);
        let latest = lists_latest(owed.listed);
        let mut folded = Vec::new();
        self.query_pages(
            &pk,
            Some("FOLDED#"),
            Some("attribute_not_exists(listed_in)"),
            |item| {
                let entry: Folded = match item.get("entry") {
                    Some(aws_sdk_dynamodb::types::AttributeValue::S(json)) => {
                        serde_json::from_str(json).map_err(|e| corrupt(&pk, e.to_string()))?
                    }
                    _ => return Err(corrupt(&pk, "a folded item without its entry")),
                };
                keep(&mut folded, entry, max_listed, latest);
                Ok(())
            },
        )
        .await?;
        Ok(Digest {
            key: owed.key.clone(),
            folded,
            folded_count: owed.folded,
            listed_before: owed.listed,
        })
    }

    /// Marks each folded item `digest` lists as listed, so that a later
    /// digest of the hour lists others.
    async fn mark_listed(&self, digest: &Digest) -> Result<(), StoreError> {
        let pk = Self::budget_pk(&digest.key);
        let id = format!("{}#{}", digest.key.hour, digest.folded_count);
        for f in &digest.folded {
            let sk = sort_key(format!("FOLDED#{}#{}", f.group, f.event_id));
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", string_attr(&pk))
                .key("sk", string_attr(sk))
                .update_expression("SET listed_in = :d")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":d", string_attr(&id))
                .send()
                .await;
            // Gone (its TTL): nothing to mark.
            unless_condition_failed(result, "UpdateItem folded listed")?;
        }
        Ok(())
    }

    pub(super) async fn digest_sent(&self, digest: &Digest) -> Result<(), StoreError> {
        self.mark_listed(digest).await?;
        let listed = digest.folded_count;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", string_attr(DIGESTS_PK))
            .key("sk", string_attr(Self::digest_sk(&digest.key)))
            .update_expression("SET listed = :n, sent_at = :t")
            .condition_expression("attribute_exists(pk) AND listed < :n")
            .expression_attribute_values(":n", number_attr(listed))
            .expression_attribute_values(":t", string_attr(Timestamp::now().to_string()))
            .send()
            .await;
        // A digest listing as many or more was confirmed first.
        unless_condition_failed(result, "UpdateItem digest sent")
    }
}
