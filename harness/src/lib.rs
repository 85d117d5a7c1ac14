//! Host-side test harness.
