pub mod lab;
pub mod load;
pub mod redis;
