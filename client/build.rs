// The same link arguments as the server binary (see there).
include!("../server/build.rs");
