//! The suite's test server, stores and helpers come from the shared testkit.

pub(crate) use bookstream_testkit::{
    server::{
        TestServer, collect, request, server_config as config, spawn_server, spawn_server_with,
        store_config,
    },
    store::TestStore,
};

/// Each check, once per store, each store holding `books` books for users 1
/// and 2; a missing PostgreSQL skips the second (see the testkit).
macro_rules! for_each_store {
    ($books:expr; $($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check(crate::support::TestStore::sqlite("1-2", $books).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    if let Some(store) = crate::support::TestStore::postgres("1-2", $books).await {
                        super::$check(store).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use for_each_store;
