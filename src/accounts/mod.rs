//! The people around a capture: staff accounts ([`staff`]), students signing in with WeChat
//! ([`wechat_login`]) and the address books prints are mailed to ([`addresses`]).

pub mod addresses;
pub mod staff;
pub mod wechat_login;
