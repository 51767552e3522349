pub mod lab;
pub mod redis;
