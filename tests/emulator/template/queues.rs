//! The queues' policies: only their AWS senders may send.

use serde_json::Value;

use super::{moto, resource, template};

/// Each queue the function reads denies `sqs:SendMessage` to every
/// principal but its AWS sender, whatever the principal's own policies
/// grant: nobody in the account can plant a sign-in, spend a budget or break
/// a group through a queue.
#[test]
fn only_their_senders_can_write_to_the_queues_the_function_reads() {
    if moto::unavailable("only_their_senders_can_write_to_the_queues_the_function_reads") {
        return;
    }
    let t = template("template.yaml");
    let deny = |policy: &str, sid: &str| -> Value {
        let statements = resource(&t, policy)["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap_or_else(|| panic!("{policy}: statements"))
            .clone();
        let st = statements
            .into_iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("{policy}: statement {sid}"));
        assert_eq!(st["Effect"], "Deny", "{policy}");
        assert_eq!(st["Principal"], "*", "{policy}");
        assert_eq!(st["Action"], "sqs:SendMessage", "{policy}");
        st["Condition"].clone()
    };
    let bucket = serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${TrailBucketName}"});
    let trail = deny("TrailObjectsQueuePolicy", "OnlyTheTrailBucketSends");
    let branches = trail["Fn::If"]
        .as_array()
        .expect("with and without backfill principals");
    assert_eq!(branches[0], "HasBackfillPrincipals");
    assert_eq!(branches[1]["ArnNotLike"]["aws:SourceArn"], bucket);
    assert_eq!(
        branches[1]["ArnNotEquals"]["aws:PrincipalArn"],
        serde_json::json!({"Ref": "BackfillPrincipalArns"})
    );
    assert_eq!(branches[2]["ArnNotLike"]["aws:SourceArn"], bucket);
    assert!(branches[2].get("ArnNotEquals").is_none());
    assert_eq!(
        deny("FailedEventsQueuePolicy", "OnlyTheFunctionSends")["ArnNotEquals"]["aws:PrincipalArn"],
        serde_json::json!({"Fn::GetAtt": ["SigninWatchFunctionRole", "Arn"]})
    );
    assert_eq!(
        deny("UndeliveredEventsQueuePolicy", "OnlyTheRulesSend")["ArnNotEquals"]["aws:SourceArn"],
        serde_json::json!([
            {"Fn::GetAtt": ["SigninEventsRule", "Arn"]},
            {"Fn::GetAtt": ["BusSigninEventsRule", "Arn"]}
        ])
    );
    assert_eq!(
        deny("TrailObjectsDeadLetterQueuePolicy", "NoPrincipalSends")["Null"]["aws:PrincipalArn"],
        "false"
    );
    // Every queue of the template has a policy that names it.
    let queues: Vec<&String> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::SQS::Queue")
        .map(|(name, _)| name)
        .collect();
    for q in queues {
        let guarded = t["Resources"].as_object().unwrap().values().any(|r| {
            r["Type"] == "AWS::SQS::QueuePolicy"
                && r["Properties"]["Queues"] == serde_json::json!([{"Ref": q}])
        });
        assert!(guarded, "{q} has no queue policy");
    }
    // The trail queue's messages are read as S3 notifications only.
    let vars = &resource(&t, "SigninWatchFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        vars[signin_watch::lambda::config::TRAIL_QUEUE_ARN],
        serde_json::json!({"Fn::If": ["HasTrailBucket", {"Fn::GetAtt": ["TrailObjectsQueue", "Arn"]}, ""]})
    );
    assert_eq!(
        resource(&t, "SigninWatchFunction")["Properties"]["ReservedConcurrentExecutions"],
        serde_json::json!({"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]})
    );
}
