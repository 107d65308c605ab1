DROP TABLE github_deployments;
