//! kube-monit tests.
