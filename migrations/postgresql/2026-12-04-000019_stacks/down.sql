DROP TABLE stack_waiters;
DROP TABLE stack_leases;
DROP TABLE stacks;
