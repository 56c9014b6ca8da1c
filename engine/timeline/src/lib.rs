//! timeline (in progress).
