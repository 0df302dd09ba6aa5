//! Integration tests of ctrmgr-dbclient against a real `redis-server` per test
//! (`ctrmgr_dbclient::testing::TestRedis`). Install it with `apt-get install redis-server`.

mod atomic;
mod connect;
mod raw;
mod rows;
mod support;
mod upstream;
mod watching;
