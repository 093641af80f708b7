//! Stub: sandbox stand-ins for the services a replay talks to. (Being built.)
