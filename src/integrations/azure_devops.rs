//! Azure DevOps' callback mode, as its Invoke REST API task speaks it: the
//! task's headers read into a callback target (its AuthToken kept apart,
//! a secret), and the `TaskCompleted` event that ends the waiting task.

use serde::{Deserialize, Serialize};

use crate::domain::{FieldError, ReleaseStatus};

/// An Azure DevOps task waiting in callback mode: the Invoke REST API
/// task's headers, as `POST /release` received them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureCallback {
    pub plan_url: String,
    pub project_id: String,
    pub hub_name: String,
    pub plan_id: String,
    pub job_id: String,
    pub task_instance_id: String,
    pub timeline_id: Option<String>,
}

/// The headers of callback mode, as Azure DevOps' documentation names them.
const REQUIRED: [&str; 7] = [
    "PlanUrl",
    "ProjectId",
    "HubName",
    "PlanId",
    "JobId",
    "TaskInstanceId",
    "AuthToken",
];

impl AzureCallback {
    /// Reads callback mode from request headers: `None` if the request
    /// sends none of its headers; every one of them is then required.
    /// Returns the target and its AuthToken (a secret, kept apart).
    pub fn from_headers(
        header: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<(Self, String)>, Vec<FieldError>> {
        if REQUIRED.iter().all(|h| header(h).is_none()) {
            return Ok(None);
        }
        let mut errors = Vec::new();
        let mut value = |name: &'static str, check: fn(&str) -> bool, what: &str| match header(name)
            .map(|v| v.trim().to_owned())
        {
            Some(v) if !v.is_empty() && v.len() <= 2048 && check(&v) => Some(v),
            Some(_) => {
                errors.push(FieldError::new(name, format!("must be {what}")));
                None
            }
            None => {
                errors.push(FieldError::new(
                        name,
                        "is required in callback mode (with PlanUrl, ProjectId, HubName, PlanId, JobId, TaskInstanceId, AuthToken)",
                    ));
                None
            }
        };
        let plan_url = value("PlanUrl", is_http_url, "an http(s) URL");
        let project_id = value("ProjectId", is_segment, "an id (letters, digits, - _ .)");
        let hub_name = value("HubName", is_segment, "a hub name (letters, digits, - _ .)");
        let plan_id = value("PlanId", is_segment, "an id (letters, digits, - _ .)");
        let job_id = value("JobId", is_segment, "an id (letters, digits, - _ .)");
        let task_instance_id = value(
            "TaskInstanceId",
            is_segment,
            "an id (letters, digits, - _ .)",
        );
        let auth_token = value(
            "AuthToken",
            is_token,
            "a token without spaces or control characters",
        );
        let timeline_id = header("TimelineId")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if let Some(t) = &timeline_id {
            if !is_segment(t) {
                errors.push(FieldError::new(
                    "TimelineId",
                    "must be an id (letters, digits, - _ .)",
                ));
            }
        }
        match (
            plan_url,
            project_id,
            hub_name,
            plan_id,
            job_id,
            task_instance_id,
            auth_token,
        ) {
            (
                Some(plan_url),
                Some(project_id),
                Some(hub_name),
                Some(plan_id),
                Some(job_id),
                Some(task_instance_id),
                Some(token),
            ) if errors.is_empty() => Ok(Some((
                Self {
                    plan_url,
                    project_id,
                    hub_name,
                    plan_id,
                    job_id,
                    task_instance_id,
                    timeline_id,
                },
                token,
            ))),
            _ => Err(errors),
        }
    }

    /// Where `TaskCompleted` is posted: one `/` between the parts whether
    /// or not the plan URL ends with one.
    pub fn events_url(&self) -> String {
        format!(
            "{}/{}/_apis/distributedtask/hubs/{}/plans/{}/events?api-version=2.0-preview.1",
            self.plan_url.trim_end_matches('/'),
            self.project_id,
            self.hub_name,
            self.plan_id
        )
    }

    /// Where the plan is read: a classic release gate's `TaskCompleted`
    /// depends on its plan's version (`task_completed`). The route and
    /// api-version of `TaskHttpClient.GetPlanAsync` (microsoft/
    /// azure-devops-python-api, `task_client.get_plan`, location
    /// 5cecd946-d704-471e-a45f-3b4064fcfaba).
    pub fn plan_url(&self) -> String {
        format!(
            "{}/{}/_apis/distributedtask/hubs/{}/plans/{}?api-version=4.0",
            self.plan_url.trim_end_matches('/'),
            self.project_id,
            self.hub_name,
            self.plan_id
        )
    }

    /// A classic release gate (hub `Gates`, in any case), whose older plans
    /// take another `TaskCompleted`: its plan's version must be read first.
    pub fn is_gate(&self) -> bool {
        self.hub_name.eq_ignore_ascii_case("Gates")
    }

    /// One TaskCompleted per (PlanId, TaskInstanceId).
    pub fn dedupe_key(&self) -> String {
        format!("{}/{}", self.plan_id, self.task_instance_id)
    }

    /// The event that ends the waiting task: succeeded only if approved.
    /// `gate_plan_version` is the plan's version for a gate (`is_gate`).
    ///
    /// As Microsoft's own server-task client sends it
    /// (microsoft/azure-pipelines-extensions, ServerTaskHelper/
    /// DistributedTask.ServerTask.Remote.Common/TaskProgress/TaskClient.cs,
    /// `GetJobId`/`GetTaskId`): on hub `Gates` with a plan of version 12 or
    /// less the event's `jobId` is the task instance and its `taskId` the
    /// empty GUID; everywhere else `jobId` is the job, `taskId` the task.
    pub fn task_completed(
        &self,
        status: ReleaseStatus,
        gate_plan_version: Option<i64>,
    ) -> serde_json::Value {
        let old_gate =
            self.is_gate() && gate_plan_version.is_some_and(|v| v <= LAST_OLD_GATES_PLAN_VERSION);
        let (job_id, task_id) = if old_gate {
            (self.task_instance_id.as_str(), EMPTY_GUID)
        } else {
            (self.job_id.as_str(), self.task_instance_id.as_str())
        };
        serde_json::json!({
            "name": "TaskCompleted",
            "taskId": task_id,
            "jobId": job_id,
            "result": if status == ReleaseStatus::Approved { "succeeded" } else { "failed" },
        })
    }
}

/// The newest plan version whose gates take the older `TaskCompleted`.
const LAST_OLD_GATES_PLAN_VERSION: i64 = 12;
const EMPTY_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// A plan as `GET plan` answers it (`TaskOrchestrationPlan`): only its
/// version matters here.
#[derive(Debug, Deserialize)]
pub struct Plan {
    pub version: i64,
}

impl Plan {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body)
            .map_err(|e| format!("Azure DevOps' plan has no readable version: {e}"))
    }
}

/// Whether the plan URL's host is one of `allowed`: exact names, or
/// `*.suffix` for any subdomain; `*` alone allows every host.
pub fn host_allowed(allowed: &[String], plan_url: &str) -> bool {
    let Some(host) = url::Url::parse(plan_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    else {
        return false;
    };
    allowed
        .iter()
        .any(|pattern| match pattern.strip_prefix("*") {
            Some("") => true,
            Some(suffix) => {
                suffix.starts_with('.') && host.ends_with(suffix) && host.len() > suffix.len()
            }
            None => host == *pattern,
        })
}

fn is_http_url(v: &str) -> bool {
    url::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// A path segment needing no encoding (GUIDs, `build`, `release`).
fn is_segment(v: &str) -> bool {
    v.len() <= 256
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_token(v: &str) -> bool {
    v.chars().all(|c| !c.is_control() && !c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn headers(pairs: &[(&str, &str)]) -> Result<Option<(AzureCallback, String)>, Vec<FieldError>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AzureCallback::from_headers(|name| map.get(name).cloned())
    }

    const FULL: [(&str, &str); 8] = [
        ("PlanUrl", "https://dev.azure.com/contoso/"),
        ("ProjectId", "1f2e3d4c-0000-4000-8000-000000000001"),
        ("HubName", "build"),
        ("PlanId", "plan-7"),
        ("JobId", "job-3"),
        ("TaskInstanceId", "task-9"),
        ("AuthToken", "eyJ0eXAi.secret"),
        ("TimelineId", "tl-1"),
    ];

    #[test]
    fn the_task_headers_make_a_callback_and_its_url() {
        let (callback, token) = headers(&FULL).unwrap().unwrap();
        assert_eq!(token, "eyJ0eXAi.secret");
        assert_eq!(
            callback.events_url(),
            "https://dev.azure.com/contoso/1f2e3d4c-0000-4000-8000-000000000001/_apis/distributedtask/hubs/build/plans/plan-7/events?api-version=2.0-preview.1"
        );
        let mut no_slash = callback.clone();
        no_slash.plan_url = "https://dev.azure.com/contoso".into();
        assert_eq!(no_slash.events_url(), callback.events_url());
        assert_eq!(
            callback.task_completed(ReleaseStatus::Approved, None)["result"],
            "succeeded"
        );
        for status in [
            ReleaseStatus::Rejected,
            ReleaseStatus::Expired,
            ReleaseStatus::Failed,
        ] {
            let body = callback.task_completed(status, None);
            assert_eq!(body["result"], "failed");
            assert_eq!(
                (
                    body["name"].as_str(),
                    body["taskId"].as_str(),
                    body["jobId"].as_str()
                ),
                (Some("TaskCompleted"), Some("task-9"), Some("job-3"))
            );
        }
    }

    #[test]
    fn gates_of_older_plans_name_the_task_as_the_job() {
        let (mut gate, _) = headers(&FULL).unwrap().unwrap();
        assert!(!gate.is_gate());
        gate.hub_name = "gates".into();
        assert!(gate.is_gate());
        assert_eq!(
            gate.plan_url(),
            "https://dev.azure.com/contoso/1f2e3d4c-0000-4000-8000-000000000001/_apis/distributedtask/hubs/gates/plans/plan-7?api-version=4.0"
        );
        let ids = |body: serde_json::Value| {
            (
                body["jobId"].as_str().unwrap().to_owned(),
                body["taskId"].as_str().unwrap().to_owned(),
            )
        };
        let old = ids(gate.task_completed(ReleaseStatus::Approved, Some(12)));
        assert_eq!(old, ("task-9".to_owned(), EMPTY_GUID.to_owned()));
        let new = ids(gate.task_completed(ReleaseStatus::Approved, Some(13)));
        assert_eq!(new, ("job-3".to_owned(), "task-9".to_owned()));
        assert_eq!(
            Plan::parse(br#"{"version": 12, "planId": "x"}"#)
                .unwrap()
                .version,
            12
        );
        assert!(Plan::parse(b"{}").is_err());
    }

    #[test]
    fn no_header_is_polling_and_some_are_an_error() {
        assert_eq!(headers(&[]), Ok(None));
        let errors = headers(&FULL[..3]).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["PlanId", "JobId", "TaskInstanceId", "AuthToken"]);
        let mut bad = FULL.to_vec();
        bad[0] = ("PlanUrl", "file:///etc/passwd");
        bad[3] = ("PlanId", "../../x");
        let fields: Vec<&str> = headers(&bad).unwrap_err().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["PlanUrl", "PlanId"]);
    }

    #[test]
    fn plan_urls_must_be_on_an_allowed_host() {
        let allowed = ["dev.azure.com".to_owned(), "*.visualstudio.com".to_owned()];
        for ok in [
            "https://dev.azure.com/contoso/",
            "https://contoso.visualstudio.com/",
            "https://DEV.azure.com/x",
        ] {
            assert!(host_allowed(&allowed, ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "https://dev.azure.com.evil.example/",
            "https://visualstudio.com/",
            "https://evilvisualstudio.com/",
            "http://169.254.169.254/latest/meta-data",
            "not a url",
        ] {
            assert!(!host_allowed(&allowed, bad), "{bad}");
        }
        assert!(host_allowed(&["*".to_owned()], "http://10.0.0.1:8080/tfs/"));
    }
}
