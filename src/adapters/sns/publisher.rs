use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use super::message::{AttributeValue, build, is_fifo_topic};
use crate::app::detector::{Detection, Notifier, NotifyError};
use crate::domain::counter::NotifyPolicy;

#[derive(Clone)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
    fifo: bool,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        let topic_arn = topic_arn.into();
        SnsPublisher {
            client,
            fifo: is_fifo_topic(&topic_arn),
            topic_arn,
        }
    }
}

fn attribute(v: &AttributeValue) -> Result<MessageAttributeValue, aws_sdk_sns::error::BuildError> {
    let (data_type, value) = match v {
        AttributeValue::String(s) => ("String", s),
        AttributeValue::Number(s) => ("Number", s),
        AttributeValue::StringArray(s) => ("String.Array", s),
    };
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
}

impl Notifier for SnsPublisher {
    async fn notify(
        &self,
        detection: &Detection,
        policy: &NotifyPolicy,
    ) -> Result<(), NotifyError> {
        let finding_id = detection.finding.finding_id.clone();
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| NotifyError {
            finding_id: finding_id.clone(),
            source,
        };
        let msg = build(&detection.finding, detection.rule, policy, self.fifo);
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
            req = req.message_attributes(*name, attribute(value).map_err(|e| failed(Box::new(e)))?);
        }
        let out = req.send().await.map_err(|e| failed(Box::new(e)))?;
        tracing::info!(
            finding_id = %detection.finding.finding_id,
            rule_id = detection.finding.rule_id,
            message_id = out.message_id().unwrap_or(""),
            "finding published"
        );
        Ok(())
    }
}
