DROP TABLE settings;
DROP TABLE jobs;
DROP TABLE approvals;
DROP TABLE releases;
