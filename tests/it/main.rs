//! Integration tests against the local stack of real services. Each module
//! proves one capability; `smoke` proves each service is the real thing.

mod broker_faults;
mod clickstream;
mod compose;
mod glue_serde;
mod msk_iam;
mod mysql_tls;
mod sink_state;
mod smoke;
mod verify;
