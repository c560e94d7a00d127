//! Security Hub: each notification imported as an ASFF finding
//! (`BatchImportFindings`) into the account's default product, one finding
//! per group, updated at each later notification of the group
//! (`docs/security-hub.md`).
//!
//! The finding is rendered once, as JSON, by `render::asff_finding` (what
//! `replay --format asff` prints and `tools/asff_check.py` checks), and
//! read here into the SDK's types; a member the reader does not know is an
//! error, so that the two cannot drift apart silently.

use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsError;
use aws_sdk_securityhub::types::{
    Action, ActionRemoteIpDetails, AwsApiCallAction, AwsSecurityFinding, City, Country,
    FindingProviderFields, FindingProviderSeverity, GeoLocation, IpOrganizationDetails, Network,
    NetworkDirection, Partition, Recommendation, RecordState, Remediation, Resource, Severity,
    SeverityLabel, Workflow, WorkflowStatus,
};
use serde_json::{Map, Value};

use super::notify_errors::sdk_notify_error;
use crate::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};
use crate::domain::time::Timestamp;
use crate::render::{ProductTarget, asff_finding};

pub struct SecurityHubImporter {
    client: Client,
    target: ProductTarget,
}

impl SecurityHubImporter {
    pub fn new(client: Client, target: ProductTarget) -> Self {
        SecurityHubImporter { client, target }
    }
}

/// Why an ASFF finding could not be read into the SDK's types: the
/// renderer wrote what this reader does not know.
#[derive(Debug, thiserror::Error)]
#[error("the ASFF finding's {path} is {what}")]
pub struct AsffShapeError {
    path: String,
    what: &'static str,
}

fn shape(path: &str, what: &'static str) -> AsffShapeError {
    AsffShapeError {
        path: path.to_owned(),
        what,
    }
}

type Fields<'a> = &'a Map<String, Value>;

fn object<'a>(v: &'a Value, path: &str) -> Result<Fields<'a>, AsffShapeError> {
    v.as_object().ok_or_else(|| shape(path, "not an object"))
}

fn text(v: &Value, path: &str) -> Result<String, AsffShapeError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| shape(path, "not a string"))
}

fn texts(v: &Value, path: &str) -> Result<Vec<String>, AsffShapeError> {
    v.as_array()
        .ok_or_else(|| shape(path, "not an array"))?
        .iter()
        .map(|t| text(t, path))
        .collect()
}

fn severity(v: &Value, path: &str) -> Result<(SeverityLabel, String), AsffShapeError> {
    let o = object(v, path)?;
    let mut label = None;
    let mut original = None;
    for (k, v) in o {
        match k.as_str() {
            "Label" => label = Some(SeverityLabel::from(text(v, path)?.as_str())),
            "Original" => original = Some(text(v, path)?),
            _ => return Err(shape(&format!("{path}.{k}"), "unknown to the importer")),
        }
    }
    match (label, original) {
        (Some(l), Some(o)) => Ok((l, o)),
        _ => Err(shape(path, "missing its label or original")),
    }
}

fn resource(v: &Value) -> Result<Resource, AsffShapeError> {
    let path = "Resources[]";
    let o = object(v, path)?;
    required(o, &["Type", "Id"], path)?;
    let mut b = Resource::builder();
    for (k, v) in o {
        b = match k.as_str() {
            "Type" => b.r#type(text(v, path)?),
            "Id" => b.id(text(v, path)?),
            "Partition" => b.partition(Partition::from(text(v, path)?.as_str())),
            "Region" => b.region(text(v, path)?),
            _ => return Err(shape(&format!("{path}.{k}"), "unknown to the importer")),
        };
    }
    Ok(b.build())
}

/// The members Security Hub requires, present (the SDK's builders take
/// them as optional).
fn required(o: Fields<'_>, names: &[&str], path: &str) -> Result<(), AsffShapeError> {
    match names.iter().find(|n| !o.contains_key(**n)) {
        Some(name) => Err(shape(
            &format!("{path}.{name}"),
            "missing, and Security Hub requires it",
        )),
        None => Ok(()),
    }
}

/// The members of `o`, each one of `known`, or an error naming the first
/// that is not.
fn only<'a>(v: &'a Value, path: &str, known: &[&str]) -> Result<Fields<'a>, AsffShapeError> {
    let o = object(v, path)?;
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(shape(&format!("{path}.{k}"), "unknown to the importer")),
        None => Ok(o),
    }
}

fn number(v: &Value, path: &str) -> Result<f64, AsffShapeError> {
    v.as_f64().ok_or_else(|| shape(path, "not a number"))
}

fn remote(v: &Value) -> Result<ActionRemoteIpDetails, AsffShapeError> {
    let path = "Action.AwsApiCallAction.RemoteIpDetails";
    let mut b = ActionRemoteIpDetails::builder();
    for (k, v) in object(v, path)? {
        let here = format!("{path}.{k}");
        b = match k.as_str() {
            "IpAddressV4" => b.ip_address_v4(text(v, &here)?),
            "Organization" => {
                let o = only(v, &here, &["Asn", "AsnOrg"])?;
                let mut org = IpOrganizationDetails::builder();
                if let Some(asn) = o.get("Asn") {
                    let asn = asn
                        .as_i64()
                        .and_then(|a| i32::try_from(a).ok())
                        .ok_or_else(|| shape(&here, "an ASN that is not a 32-bit integer"))?;
                    org = org.asn(asn);
                }
                if let Some(name) = o.get("AsnOrg") {
                    org = org.asn_org(text(name, &here)?);
                }
                b.organization(org.build())
            }
            "Country" => {
                let o = only(v, &here, &["CountryCode", "CountryName"])?;
                let mut c = Country::builder();
                if let Some(code) = o.get("CountryCode") {
                    c = c.country_code(text(code, &here)?);
                }
                if let Some(name) = o.get("CountryName") {
                    c = c.country_name(text(name, &here)?);
                }
                b.country(c.build())
            }
            "City" => {
                let o = only(v, &here, &["CityName"])?;
                let name = o.get("CityName").map(|n| text(n, &here)).transpose()?;
                b.city(City::builder().set_city_name(name).build())
            }
            "GeoLocation" => {
                let o = only(v, &here, &["Lat", "Lon"])?;
                let lat = o.get("Lat").map(|n| number(n, &here)).transpose()?;
                let lon = o.get("Lon").map(|n| number(n, &here)).transpose()?;
                b.geo_location(GeoLocation::builder().set_lat(lat).set_lon(lon).build())
            }
            _ => return Err(shape(&here, "unknown to the importer")),
        };
    }
    Ok(b.build())
}

fn action(v: &Value) -> Result<Action, AsffShapeError> {
    let o = only(v, "Action", &["ActionType", "AwsApiCallAction"])?;
    let call = o
        .get("AwsApiCallAction")
        .ok_or_else(|| shape("Action.AwsApiCallAction", "missing"))?;
    let path = "Action.AwsApiCallAction";
    let mut b = AwsApiCallAction::builder();
    for (k, v) in object(call, path)? {
        b = match k.as_str() {
            "Api" => b.api(text(v, path)?),
            "ServiceName" => b.service_name(text(v, path)?),
            "CallerType" => b.caller_type(text(v, path)?),
            "FirstSeen" => b.first_seen(text(v, path)?),
            "LastSeen" => b.last_seen(text(v, path)?),
            "RemoteIpDetails" => b.remote_ip_details(remote(v)?),
            _ => return Err(shape(&format!("{path}.{k}"), "unknown to the importer")),
        };
    }
    Ok(Action::builder()
        .set_action_type(
            o.get("ActionType")
                .and_then(Value::as_str)
                .map(str::to_owned),
        )
        .aws_api_call_action(b.build())
        .build())
}

/// The finding `render::asff_finding` wrote, in the SDK's types.
pub fn to_sdk(finding: &Value) -> Result<AwsSecurityFinding, AsffShapeError> {
    let o = object(finding, "finding")?;
    required(
        o,
        &[
            "SchemaVersion",
            "Id",
            "ProductArn",
            "GeneratorId",
            "AwsAccountId",
            "CreatedAt",
            "UpdatedAt",
            "Title",
            "Description",
            "Resources",
            "Severity",
        ],
        "finding",
    )?;
    let mut b = AwsSecurityFinding::builder();
    for (k, v) in o {
        let path = k.as_str();
        b = match path {
            "SchemaVersion" => b.schema_version(text(v, path)?),
            "Id" => b.id(text(v, path)?),
            "ProductArn" => b.product_arn(text(v, path)?),
            "ProductName" => b.product_name(text(v, path)?),
            "CompanyName" => b.company_name(text(v, path)?),
            "Region" => b.region(text(v, path)?),
            "GeneratorId" => b.generator_id(text(v, path)?),
            "AwsAccountId" => b.aws_account_id(text(v, path)?),
            "Types" => b.set_types(Some(texts(v, path)?)),
            "FirstObservedAt" => b.first_observed_at(text(v, path)?),
            "LastObservedAt" => b.last_observed_at(text(v, path)?),
            "CreatedAt" => b.created_at(text(v, path)?),
            "UpdatedAt" => b.updated_at(text(v, path)?),
            "Severity" => {
                let (label, original) = severity(v, path)?;
                b.severity(Severity::builder().label(label).original(original).build())
            }
            "FindingProviderFields" => {
                let o = object(v, path)?;
                let mut f = FindingProviderFields::builder();
                for (k, v) in o {
                    f = match k.as_str() {
                        "Severity" => {
                            let (label, original) = severity(v, "FindingProviderFields.Severity")?;
                            f.severity(
                                FindingProviderSeverity::builder()
                                    .label(label)
                                    .original(original)
                                    .build(),
                            )
                        }
                        "Types" => f.set_types(Some(texts(v, "FindingProviderFields.Types")?)),
                        _ => {
                            return Err(shape(
                                &format!("FindingProviderFields.{k}"),
                                "unknown to the importer",
                            ));
                        }
                    };
                }
                b.finding_provider_fields(f.build())
            }
            "Title" => b.title(text(v, path)?),
            "Description" => b.description(text(v, path)?),
            "SourceUrl" => b.source_url(text(v, path)?),
            "Resources" => {
                let resources = v
                    .as_array()
                    .ok_or_else(|| shape(path, "not an array"))?
                    .iter()
                    .map(resource)
                    .collect::<Result<Vec<_>, _>>()?;
                b.set_resources(Some(resources))
            }
            "ProductFields" => {
                let mut fields = std::collections::HashMap::new();
                for (k, v) in object(v, path)? {
                    fields.insert(k.clone(), text(v, path)?);
                }
                b.set_product_fields(Some(fields))
            }
            "RecordState" => b.record_state(RecordState::from(text(v, path)?.as_str())),
            "Workflow" => {
                let o = only(v, path, &["Status"])?;
                let status = text(&o["Status"], "Workflow.Status")?;
                b.workflow(
                    Workflow::builder()
                        .status(WorkflowStatus::from(status.as_str()))
                        .build(),
                )
            }
            "Remediation" => {
                let o = only(v, path, &["Recommendation"])?;
                let r = only(
                    &o["Recommendation"],
                    "Remediation.Recommendation",
                    &["Text"],
                )?;
                let text = text(&r["Text"], "Remediation.Recommendation.Text")?;
                b.remediation(
                    Remediation::builder()
                        .recommendation(Recommendation::builder().text(text).build())
                        .build(),
                )
            }
            "Network" => {
                let mut n = Network::builder();
                for (k, v) in object(v, path)? {
                    n = match k.as_str() {
                        "Direction" => n.direction(NetworkDirection::from(text(v, path)?.as_str())),
                        "SourceIpV4" => n.source_ipv4(text(v, path)?),
                        "SourceIpV6" => n.source_ipv6(text(v, path)?),
                        _ => return Err(shape(&format!("Network.{k}"), "unknown to the importer")),
                    };
                }
                b.network(n.build())
            }
            "Action" => b.action(action(v)?),
            _ => return Err(shape(path, "unknown to the importer")),
        };
    }
    Ok(b.build())
}

/// Whether Security Hub refused for good: the request itself, or an
/// account where Security Hub is not enabled or the function may not
/// import (InvalidAccess, AccessDenied). A secondary route that refuses is
/// set aside and the page still goes out (`routes`); throttling, limits and
/// outages are retried.
fn refused_for_good(e: &BatchImportFindingsError) -> bool {
    use aws_sdk_securityhub::error::ProvideErrorMetadata;
    matches!(
        e,
        BatchImportFindingsError::InvalidInputException(_)
            | BatchImportFindingsError::InvalidAccessException(_)
    ) || e.code() == Some("AccessDeniedException")
}

impl Notifier for SecurityHubImporter {
    async fn notify(&self, notice: &Notice<'_>) -> Result<(), NotifyError> {
        let id = &notice.finding.finding_id;
        // Now: later than any earlier import of the group, so that Security
        // Hub takes the update.
        let rendered = asff_finding(notice, &self.target, Timestamp::now());
        let finding = to_sdk(&rendered).map_err(|e| NotifyError::InvalidRequest {
            finding_id: id.clone(),
            source: Box::new(e),
        })?;
        let out = self
            .client
            .batch_import_findings()
            .findings(finding)
            .send()
            .await
            .map_err(|e| sdk_notify_error(id, e, refused_for_good))?;
        if out.failed_count().unwrap_or(0) > 0 {
            let why = out
                .failed_findings()
                .first()
                .map(|f| {
                    format!(
                        "Security Hub refused the finding: {} {}",
                        f.error_code().unwrap_or(""),
                        f.error_message().unwrap_or("")
                    )
                })
                .unwrap_or_else(|| "Security Hub refused the finding".to_owned());
            // A finding refused in the answer is refused for what it holds.
            return Err(NotifyError::Refused {
                finding_id: id.clone(),
                source: why.into(),
            });
        }
        tracing::info!(finding_id = %id, "finding imported into Security Hub");
        Ok(())
    }

    /// A digest counts notifications folded past the hourly budget, which
    /// Security Hub does not hold one by one (docs/security-hub.md): it is
    /// not a finding, and nothing is imported.
    async fn notify_digest(&self, _: &DigestNotice<'_>) -> Result<(), NotifyError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::counter::NotifyPolicy;
    use crate::domain::rules::pack;
    use crate::render::tests::sample_finding;

    fn rendered() -> Value {
        let rule = pack::rule("failed-mfa").expect("in the pack");
        let f = sample_finding("alice", "Mozilla/5.0");
        let target = ProductTarget::from_product_arn(
            "arn:aws:securityhub:eu-west-1:999988887777:product/999988887777/default",
        )
        .expect("a default product");
        asff_finding(
            &Notice {
                finding: &f,
                rule: &rule.meta,
                policy: &NotifyPolicy::default(),
            },
            &target,
            f.last_seen,
        )
    }

    #[test]
    fn every_member_the_renderer_writes_is_read() {
        let finding = to_sdk(&rendered()).expect("read whole");
        assert_eq!(finding.aws_account_id(), Some("999988887777"));
        assert_eq!(
            finding.severity().and_then(|s| s.label()),
            Some(&SeverityLabel::Medium)
        );
        assert!(!finding.product_fields().expect("fields").is_empty());
        assert!(
            finding
                .action()
                .and_then(|a| a.aws_api_call_action())
                .is_some()
        );
    }

    #[test]
    fn where_a_sign_in_came_from_is_read_whole() {
        let rule = pack::rule("failed-mfa").expect("in the pack");
        let mut f = sample_finding("alice", "Mozilla/5.0");
        f.src = "185.220.101.33".into();
        let mut geo = (**f.src_geo.as_ref().expect("located")).clone();
        geo.country = Some("DE".into());
        geo.country_name = Some("Germany".into());
        geo.asn = Some(60729);
        geo.as_org = Some("Stiftung Erneuerbare Freiheit".into());
        geo.city = Some("Berlin".into());
        geo.latitude = Some(52.52);
        geo.longitude = Some(13.405);
        f.src_geo = Some(std::sync::Arc::new(geo));
        let target = ProductTarget::from_product_arn(
            "arn:aws:securityhub:eu-west-1:999988887777:product/999988887777/default",
        )
        .expect("a default product");
        let notice = Notice {
            finding: &f,
            rule: &rule.meta,
            policy: &NotifyPolicy::default(),
        };
        let json = asff_finding(&notice, &target, f.last_seen);
        let sdk = to_sdk(&json).expect("read whole");
        let remote = sdk
            .action()
            .and_then(|a| a.aws_api_call_action())
            .and_then(|c| c.remote_ip_details())
            .expect("the remote address");
        let rendered = &json["Action"]["AwsApiCallAction"]["RemoteIpDetails"];
        assert_eq!(remote.ip_address_v4(), rendered["IpAddressV4"].as_str());
        let org = remote.organization().expect("its network");
        assert_eq!(org.asn(), Some(60729));
        assert_eq!(org.asn_org(), rendered["Organization"]["AsnOrg"].as_str());
        assert_eq!(remote.country().and_then(|c| c.country_code()), Some("DE"));
        assert_eq!(remote.city().and_then(|c| c.city_name()), Some("Berlin"));
        assert_eq!(remote.geo_location().and_then(|g| g.lat()), Some(52.52));
        assert_eq!(
            sdk.network().and_then(|n| n.source_ipv4()),
            Some("185.220.101.33")
        );
        assert_eq!(
            sdk.remediation()
                .and_then(|r| r.recommendation())
                .and_then(|r| r.text()),
            json["Remediation"]["Recommendation"]["Text"].as_str()
        );
        assert_eq!(
            sdk.product_fields().map(|m| m.len()),
            json["ProductFields"].as_object().map(|m| m.len())
        );
        assert_eq!(
            sdk.types().len(),
            json["Types"].as_array().map_or(0, |t| t.len())
        );
    }

    #[test]
    fn a_member_the_reader_does_not_know_is_an_error_naming_it() {
        let mut finding = rendered();
        finding["Note"] = serde_json::json!({ "Text": "x" });
        let e = to_sdk(&finding).expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "the ASFF finding's Note is unknown to the importer"
        );
        let mut finding = rendered();
        finding["Network"]["SourcePort"] = 443.into();
        assert!(
            to_sdk(&finding)
                .expect_err("unknown")
                .to_string()
                .contains("Network.SourcePort")
        );
    }
}
