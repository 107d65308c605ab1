DROP TABLE provisioned_instances;
DROP TABLE provisioned_versions;
