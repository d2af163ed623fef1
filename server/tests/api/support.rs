//! The suite's test server, stores and helpers come from the shared testkit.

pub(crate) use bookstream_testkit::{
    server::{
        TestServer, collect, request, server_config as config, spawn_server, spawn_server_with,
        store_config,
    },
    store::TestStore,
};
