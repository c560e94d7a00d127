"""Local stack for `make local` / `make invoke`, on moto's server.

usage:
  local.py setup ENDPOINT ENV_FILE   create the table, topic and a queue subscribed
                                     to it; write the function's environment file
  local.py inbox ENDPOINT ENV_FILE   print and delete what the queue received
"""
import json
import sys

import boto3

REGION = "us-east-1"
TABLE, TOPIC, QUEUE = "signin-watch", "signin-watch-findings", "signin-watch-inbox"


def client(service, endpoint):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def setup(endpoint, env_file):
    ddb = client("dynamodb", endpoint)
    if TABLE not in ddb.list_tables()["TableNames"]:
        ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
        ddb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    topic = client("sns", endpoint).create_topic(Name=TOPIC)["TopicArn"]
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("sns", endpoint).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                                      Attributes={"RawMessageDelivery": "true"})
    with open(env_file, "w") as f:
        f.write(f"AWS_ENDPOINT_URL={endpoint}\nAWS_REGION={REGION}\n"
                "AWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY=testing\n"
                f"SIGNIN_WATCH_TABLE={TABLE}\nSIGNIN_WATCH_TOPIC_ARN={topic}\n"
                "AWS_LAMBDA_LOG_FORMAT=JSON\n"
                # Locally, bare records and log files may be invoked too.
                "SIGNIN_WATCH_ACCEPT_ANY_SHAPE=true\n")
    print(f"local stack on {endpoint}: table {TABLE}, topic {topic}, queue {url} (raw delivery)")


def inbox(endpoint, _env_file):
    sqs = client("sqs", endpoint)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    n = 0
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        for m in got:
            n += 1
            attrs = {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}
            print(f"--- message {n} on {QUEUE}, attributes {json.dumps(attrs)}")
            print(json.dumps(json.loads(m["Body"]), indent=2))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    if n == 0:
        print(f"--- {QUEUE} received nothing (no finding notified)")


if __name__ == "__main__":
    {"setup": setup, "inbox": inbox}[sys.argv[1]](sys.argv[2], sys.argv[3])
