//! Named policy parameters with defaults.

use crate::Param;

/// Read-only view of a policy's parameters: a value from the input, or the policy's default.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a>(pub &'a [Param]);

impl Params<'_> {
    /// The last value given for `name`, or `default` when the input does not name it.
    pub fn get(&self, name: &str, default: f64) -> f64 {
        self.0.iter().rev().find(|p| p.name == name).map_or(default, |p| p.value)
    }

    /// Like [`Params::get`], but refuses values outside `[min, max]` or not finite.
    pub fn get_in(&self, name: &str, default: f64, min: f64, max: f64) -> Result<f64, String> {
        let value = self.get(name, default);
        if value.is_finite() && value >= min && value <= max {
            Ok(value)
        } else {
            Err(format!("parameter {name} = {value} is outside [{min}, {max}]"))
        }
    }
}
