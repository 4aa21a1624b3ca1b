//! Exact decimal numbers for DECIMAL(p,s) columns and decimal literals/arithmetic.
//!
//! A [`Dec`] is a signed 128-bit mantissa and a scale (digits after the point): `12.50` is (1250, 2).
//! That holds 38 significant digits, which covers DECIMAL(38,s); wider declared precisions are clamped to
//! 38 (documented limitation). Arithmetic follows MySQL's scale rules: `+`/`-` take the larger scale, `*`
//! the sum of scales (max 30), `/` the dividend's scale plus 4 (`div_precision_increment`), rounding half
//! away from zero. Overflow is reported as `None` so that callers raise MySQL error 1690/1264.

use std::cmp::Ordering;

/// Largest number of significant digits a [`Dec`] holds.
pub const MAX_PRECISION: u32 = 38;
/// Largest scale MySQL allows.
pub const MAX_SCALE: u32 = 30;

/// An exact decimal: `mant * 10^-scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dec {
    /// The digits as an integer.
    pub mant: i128,
    /// Digits after the decimal point.
    pub scale: u32,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Dec {
    /// An integer as a decimal of scale 0.
    pub fn from_i128(v: i128) -> Dec {
        Dec { mant: v, scale: 0 }
    }

    /// Parses `[+-]digits[.digits][e[+-]digits]`; `None` if it is not a plain number or overflows.
    pub fn parse(s: &str) -> Option<Dec> {
        let s = s.trim();
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (num, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], body[i + 1..].parse::<i32>().ok()?),
            None => (body, 0),
        };
        let (ip, fp) = match num.find('.') {
            Some(i) => (&num[..i], &num[i + 1..]),
            None => (num, ""),
        };
        if ip.is_empty() && fp.is_empty() {
            return None;
        }
        if !ip.bytes().all(|b| b.is_ascii_digit()) || !fp.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let ip = ip.trim_start_matches('0');
        let mut mant: i128 = 0;
        let mut digits = 0u32;
        let mut scale = fp.len() as i64;
        for b in ip.bytes().chain(fp.bytes()) {
            if digits >= MAX_PRECISION {
                // Too many digits: drop trailing fraction digits if we can, else overflow.
                if scale > 0 {
                    scale -= 1;
                    continue;
                }
                return None;
            }
            mant = mant * 10 + (b - b'0') as i128;
            if mant != 0 {
                digits += 1;
            }
        }
        // Fraction digits dropped above still count in `fp.len()`; recompute the kept scale.
        let kept_frac = fp.len() as i64 - (fp.len() as i64 - scale).max(0);
        let mut scale = kept_frac - exp as i64;
        if scale < 0 {
            mant = mant.checked_mul(pow10((-scale) as u32)?)?;
            scale = 0;
        }
        let mut d = Dec { mant: if neg { -mant } else { mant }, scale: scale as u32 };
        if d.scale > MAX_SCALE {
            d = d.round(MAX_SCALE);
        }
        Some(d)
    }

    /// Converts a double, keeping up to 15 significant digits as MySQL does.
    pub fn from_f64(v: f64) -> Option<Dec> {
        if !v.is_finite() {
            return None;
        }
        Dec::parse(&format!("{:.*e}", 14, v)).map(|d| d.normalize())
    }

    /// Removes trailing zero fraction digits.
    pub fn normalize(mut self) -> Dec {
        while self.scale > 0 && self.mant % 10 == 0 {
            self.mant /= 10;
            self.scale -= 1;
        }
        self
    }

    /// Rounds (half away from zero) or extends to exactly `scale` fraction digits.
    pub fn round(self, scale: u32) -> Dec {
        match self.rescale(scale) {
            Some(d) => d,
            None => self,
        }
    }

    /// Like [`Dec::round`] but `None` on overflow.
    pub fn rescale(self, scale: u32) -> Option<Dec> {
        if scale >= self.scale {
            let m = self.mant.checked_mul(pow10(scale - self.scale)?)?;
            return Some(Dec { mant: m, scale });
        }
        let div = pow10(self.scale - scale)?;
        let q = self.mant / div;
        let r = self.mant % div;
        let q = if r.abs() * 2 >= div { q + self.mant.signum() } else { q };
        Some(Dec { mant: q, scale })
    }

    /// Number of digits before the point.
    pub fn int_digits(&self) -> u32 {
        let mut ip = (self.mant / pow10(self.scale).unwrap_or(1)).unsigned_abs();
        let mut n = 0;
        while ip > 0 {
            ip /= 10;
            n += 1;
        }
        n
    }

    /// The value as f64.
    pub fn to_f64(self) -> f64 {
        self.to_string().parse().unwrap_or(0.0)
    }

    /// Truncated toward zero... rounded half away from zero to an integer, as MySQL converts.
    pub fn to_i128_round(self) -> i128 {
        self.round(0).mant
    }

    fn align(a: Dec, b: Dec) -> Option<(i128, i128, u32)> {
        let s = a.scale.max(b.scale);
        Some((a.rescale(s)?.mant, b.rescale(s)?.mant, s))
    }

    /// a + b.
    pub fn add(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, s) = Dec::align(a, b)?;
        Some(Dec { mant: x.checked_add(y)?, scale: s })
    }

    /// a - b.
    pub fn sub(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, s) = Dec::align(a, b)?;
        Some(Dec { mant: x.checked_sub(y)?, scale: s })
    }

    /// a * b.
    pub fn mul(a: Dec, b: Dec) -> Option<Dec> {
        let d = Dec { mant: a.mant.checked_mul(b.mant)?, scale: a.scale + b.scale };
        Some(if d.scale > MAX_SCALE { d.round(MAX_SCALE) } else { d })
    }

    /// a / b with MySQL's result scale; `None` for division by zero or overflow.
    pub fn div(a: Dec, b: Dec) -> Option<Dec> {
        if b.mant == 0 {
            return None;
        }
        let scale = (a.scale + 4).min(MAX_SCALE);
        // a/b = (a.mant * 10^(scale + b.scale - a.scale + 1)) / b.mant, then round one digit off.
        let shift = scale + b.scale + 1 - a.scale;
        let num = a.mant.checked_mul(pow10(shift)?)?;
        let q = num / b.mant;
        let d = Dec { mant: q, scale: scale + 1 };
        Some(d.round(scale))
    }

    /// a % b (sign of a).
    pub fn rem(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, s) = Dec::align(a, b)?;
        if y == 0 {
            return None;
        }
        Some(Dec { mant: x % y, scale: s })
    }

    /// Numeric comparison.
    pub fn cmp(a: &Dec, b: &Dec) -> Ordering {
        match Dec::align(*a, *b) {
            Some((x, y, _)) => x.cmp(&y),
            None => a.to_f64().partial_cmp(&b.to_f64()).unwrap_or(Ordering::Equal),
        }
    }
}

impl std::fmt::Display for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let neg = self.mant < 0;
        let digits = self.mant.unsigned_abs().to_string();
        let s = self.scale as usize;
        let body = if s == 0 {
            digits
        } else if digits.len() > s {
            format!("{}.{}", &digits[..digits.len() - s], &digits[digits.len() - s..])
        } else {
            format!("0.{}{}", "0".repeat(s - digits.len()), digits)
        };
        if neg {
            write!(f, "-{body}")
        } else {
            write!(f, "{body}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        assert_eq!(Dec::parse("12.50").unwrap().to_string(), "12.50");
        assert_eq!(Dec::parse("-0.05").unwrap().to_string(), "-0.05");
        assert_eq!(Dec::parse("1e3").unwrap().to_string(), "1000");
        assert_eq!(Dec::parse(".5").unwrap().to_string(), "0.5");
        assert!(Dec::parse("abc").is_none());
        assert!(Dec::parse("1.2.3").is_none());
    }

    #[test]
    fn arithmetic() {
        let a = Dec::parse("1.25").unwrap();
        let b = Dec::parse("2").unwrap();
        assert_eq!(Dec::mul(a, b).unwrap().to_string(), "2.50");
        assert_eq!(Dec::add(a, b).unwrap().to_string(), "3.25");
        assert_eq!(Dec::div(Dec::from_i128(1), Dec::from_i128(3)).unwrap().to_string(), "0.3333");
        assert_eq!(Dec::div(Dec::from_i128(2), Dec::from_i128(3)).unwrap().to_string(), "0.6667");
        assert_eq!(Dec::parse("2.345").unwrap().round(2).to_string(), "2.35");
        assert_eq!(Dec::parse("-2.345").unwrap().round(2).to_string(), "-2.35");
        assert!(Dec::div(a, Dec::from_i128(0)).is_none());
    }
}
