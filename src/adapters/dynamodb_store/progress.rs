//! How far each trail object was read, in DynamoDB.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | object progress | `OBJECT#<bucket>/<key>#<size>#<rule set>` | `PROGRESS` | `done`, `expires_at` |

use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, get_n, number_attr, partition_key, string_attr, unless_condition_failed};
use crate::domain::store::StoreError;
use crate::intake::objects::{ObjectProgress, progress_key};
use crate::intake::s3_notification::ObjectRef;

fn object_pk(object: &ObjectRef, rules: &str) -> String {
    partition_key(format!("OBJECT#{}", progress_key(object, rules)))
}

impl ObjectProgress for DynamoStore {
    async fn progress(&self, object: &ObjectRef, rules: &str) -> Result<u64, StoreError> {
        let pk = object_pk(object, rules);
        let item = self.get(&pk, "PROGRESS", "GetItem object progress").await?;
        let done = match item {
            Some(item) => get_n(&item, "done", &pk)?.unwrap_or(0),
            None => 0,
        };
        Ok(u64::try_from(done).unwrap_or(0))
    }

    async fn save_progress(
        &self,
        object: &ObjectRef,
        rules: &str,
        done: u64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", string_attr(object_pk(object, rules)))
            .item("sk", string_attr("PROGRESS"))
            .item("done", number_attr(done))
            .item("expires_at", self.expires_at())
            .condition_expression("attribute_not_exists(done) OR done < :d")
            .expression_attribute_values(":d", AttributeValue::N(done.to_string()))
            .send()
            .await;
        // Another invocation recorded as much or more first.
        unless_condition_failed(result, "PutItem object progress")
    }
}
