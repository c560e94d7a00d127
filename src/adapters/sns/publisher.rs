use aws_sdk_sns::Client;
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;

use super::message::{
    MachineBody, MessageAttribute, SnsMessage, build_as, build_digest, is_fifo_topic,
};
use crate::adapters::notify_errors::sdk_notify_error;
use crate::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};

#[derive(Clone)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
    fifo: bool,
    machine: MachineBody,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        let topic_arn = topic_arn.into();
        SnsPublisher {
            client,
            fifo: is_fifo_topic(&topic_arn),
            topic_arn,
            machine: MachineBody::Finding,
        }
    }

    /// Machines (HTTPS, SQS, Lambda) receive `body` instead of the
    /// project's finding JSON.
    pub fn with_machine_body(mut self, body: MachineBody) -> Self {
        self.machine = body;
        self
    }
}

fn attribute(
    v: &MessageAttribute,
) -> Result<MessageAttributeValue, aws_sdk_sns::error::BuildError> {
    let (data_type, value) = match v {
        MessageAttribute::String(s) => ("String", s),
        MessageAttribute::Number(s) => ("Number", s),
        MessageAttribute::StringArray(s) => ("String.Array", s),
    };
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
}

/// Whether SNS refused the message itself, which a retry sends unchanged.
/// Throttling, outages, permissions and keys are worth retrying (an
/// operator may mend the last two while the event waits).
fn refused_for_good(e: &PublishError) -> bool {
    matches!(
        e,
        PublishError::InvalidParameterException(_)
            | PublishError::InvalidParameterValueException(_)
            | PublishError::ValidationException(_)
    )
}

impl SnsPublisher {
    /// Publishes `msg`; `id` names what it is about in errors and logs (a
    /// finding id, or `digest-<id>`). Returns SNS's message id.
    async fn publish(&self, id: &str, msg: SnsMessage) -> Result<String, NotifyError> {
        let mut req = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message_structure("json")
            .message(msg.body)
            .subject(msg.subject)
            .set_message_group_id(msg.group_id)
            .set_message_deduplication_id(msg.deduplication_id);
        for (name, value) in &msg.attributes {
            let value = attribute(value).map_err(|e| NotifyError::InvalidRequest {
                finding_id: id.to_owned(),
                source: Box::new(e),
            })?;
            req = req.message_attributes(*name, value);
        }
        let out = req
            .send()
            .await
            .map_err(|e| sdk_notify_error(id, e, refused_for_good))?;
        Ok(out.message_id().unwrap_or("").to_owned())
    }
}

impl Notifier for SnsPublisher {
    async fn notify(&self, notice: &Notice<'_>) -> Result<(), NotifyError> {
        let id = &notice.finding.finding_id;
        let message_id = self
            .publish(id, build_as(notice, self.fifo, self.machine))
            .await?;
        tracing::info!(
            finding_id = %id,
            rule_id = notice.finding.rule_id,
            message_id,
            "finding published"
        );
        Ok(())
    }

    async fn notify_digest(&self, notice: &DigestNotice<'_>) -> Result<(), NotifyError> {
        let id = format!("digest-{}", notice.digest_id());
        let message_id = self
            .publish(&id, build_digest(notice, self.fifo, self.machine))
            .await?;
        tracing::info!(
            digest_id = %id,
            rule_id = notice.digest.key.rule_id,
            hour = %notice.digest.key.hour,
            folded = notice.digest.folded_count,
            message_id,
            "digest published"
        );
        Ok(())
    }
}
