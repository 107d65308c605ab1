// One schema for both backends; the migrations under `migrations/<backend>`
// create matching tables.

diesel::table! {
    releases (id) {
        id -> BigInt,
        team_project -> Text,
        environment -> Text,
        release_id -> Text,
        team_project_key -> Text,
        environment_key -> Text,
        release_name -> Text,
        status -> Text,
        required_approvals -> Nullable<Integer>,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        requested_for -> Nullable<Text>,
        quorum -> Nullable<Integer>,
        requester_can_approve -> Bool,
    }
}

diesel::table! {
    approvals (id) {
        id -> BigInt,
        release_pk -> BigInt,
        email -> Text,
        email_key -> Text,
        name -> Nullable<Text>,
        token_id -> Text,
        token_expires_at -> Timestamp,
        decision -> Nullable<Text>,
        comment -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        email_sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        reminded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    jobs (id) {
        id -> BigInt,
        kind -> Text,
        subject -> Nullable<Text>,
        state -> Text,
        attempts -> Integer,
        max_attempts -> Integer,
        run_at -> Timestamp,
        lock_token -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        payload -> Text,
        locked_by -> Nullable<Text>,
        request_id -> Nullable<Text>,
        unique_key -> Nullable<Text>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        key_hash -> Text,
        team_project -> Nullable<Text>,
        team_project_key -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    subscribers (id) {
        id -> BigInt,
        release_pk -> BigInt,
        kind -> Text,
        target -> Text,
        credential -> Nullable<Text>,
        dedupe_key -> Text,
        max_attempts -> Integer,
        created_at -> Timestamp,
        notified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    release_limits (release_pk) {
        release_pk -> BigInt,
        ttl_expires_at -> Timestamp,
    }
}

diesel::table! {
    slack_messages (release_pk) {
        release_pk -> BigInt,
        channel -> Text,
        ts -> Nullable<Text>,
        max_attempts -> Integer,
        created_at -> Timestamp,
        posted_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(approvals -> releases (release_pk));
diesel::joinable!(release_limits -> releases (release_pk));

diesel::table! {
    events (id) {
        id -> BigInt,
        release_pk -> Nullable<BigInt>,
        at -> Timestamp,
        #[sql_name = "type"]
        kind -> Text,
        actor -> Nullable<Text>,
        detail -> Text,
        /// The project of a control-plane event (folded); NULL for a
        /// release's, whose release names the project.
        team_project_key -> Nullable<Text>,
    }
}

diesel::table! {
    deployments (pk) {
        pk -> BigInt,
        id -> Text,
        team_project -> Text,
        team_project_key -> Text,
        environment -> Text,
        environment_key -> Text,
        repository_url -> Text,
        repository_key -> Text,
        commit_sha -> Text,
        #[sql_name = "ref"]
        git_ref -> Nullable<Text>,
        stack_name -> Nullable<Text>,
        version -> Nullable<Text>,
        status -> Text,
        release_pk -> Nullable<BigInt>,
        original_request -> Text,
        idempotency_key -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        environment_url -> Nullable<Text>,
        claim_token_hash -> Nullable<Text>,
        claim_expires_at -> Nullable<Timestamp>,
        log_bytes -> BigInt,
        log_dropped -> BigInt,
    }
}

diesel::table! {
    deployment_statuses (id) {
        id -> BigInt,
        deployment_pk -> BigInt,
        state -> Text,
        description -> Nullable<Text>,
        log_url -> Nullable<Text>,
        environment_url -> Nullable<Text>,
        actor -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    deployment_log_chunks (id) {
        id -> BigInt,
        deployment_pk -> BigInt,
        data -> Binary,
        at -> Timestamp,
    }
}

diesel::table! {
    variables (id) {
        id -> BigInt,
        team_project_key -> Text,
        environment_key -> Text,
        environment -> Text,
        name -> Text,
        value -> Nullable<Text>,
        secret -> Bool,
        unset -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    stacks (pk) {
        pk -> BigInt,
        team_project -> Text,
        team_project_key -> Text,
        number -> BigInt,
        name -> Text,
        branch -> Text,
        last_deployed_commit -> Nullable<Text>,
        is_available -> Bool,
        fence -> BigInt,
        last_requested_at -> Timestamp,
        created_at -> Timestamp,
        modified_at -> Timestamp,
    }
}

diesel::table! {
    stack_leases (pk) {
        pk -> BigInt,
        stack_pk -> BigInt,
        team_project_key -> Text,
        stack_name -> Text,
        fence -> BigInt,
        token_hash -> Text,
        branch -> Text,
        holder -> Nullable<Text>,
        granted_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        end_reason -> Nullable<Text>,
    }
}

diesel::table! {
    stack_waiters (pk) {
        pk -> BigInt,
        team_project_key -> Text,
        request_id -> Text,
        branch -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(deployment_statuses -> deployments (deployment_pk));
diesel::joinable!(deployment_log_chunks -> deployments (deployment_pk));

diesel::joinable!(events -> releases (release_pk));
diesel::joinable!(subscribers -> releases (release_pk));
diesel::joinable!(slack_messages -> releases (release_pk));
diesel::allow_tables_to_appear_in_same_query!(
    events,
    releases,
    approvals,
    jobs,
    settings,
    api_keys,
    subscribers,
    release_limits,
    slack_messages,
    deployments,
    deployment_statuses,
    deployment_log_chunks,
    provisioned_versions,
    provisioned_instances,
    variables,
    stacks,
    stack_leases,
    stack_waiters
);

diesel::table! {
    github_deployments (deployment_pk) {
        deployment_pk -> BigInt,
        github_id -> BigInt,
        repository -> Text,
        installation_id -> BigInt,
        original_mapped_request -> Text,
        reported_status_id -> BigInt,
    }
}

diesel::table! {
    provisioned_versions (pk) {
        pk -> BigInt,
        id -> Text,
        team_project -> Text,
        team_project_key -> Text,
        stack_name -> Text,
        stack_name_key -> Text,
        version -> Text,
        environment -> Text,
        environment_key -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    provisioned_instances (pk) {
        pk -> BigInt,
        id -> Text,
        version_pk -> BigInt,
        instance_type -> Text,
        instance_id -> Text,
        resource_id -> Text,
        properties -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(provisioned_instances -> provisioned_versions (version_pk));
