//! MySQL's `my_rnd` generator, bit for bit (reference §1.7), used by RAND().
//!
//! `seed1 = (seed1 * 3 + seed2) % 0x3FFFFFFF; seed2 = (seed1 + seed2 + 33) % 0x3FFFFFFF;
//! r = seed1 / 0x3FFFFFFF`. A session's generator state is logged (RAND event) before a statement that
//! calls RAND(), and a replica starts the statement from those seeds, so both compute the same numbers.

const MAX_VALUE: u64 = 0x3FFF_FFFF;

/// The generator state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MyRnd {
    /// First seed.
    pub seed1: u64,
    /// Second seed.
    pub seed2: u64,
}

impl MyRnd {
    /// `my_rnd_init`: seeds reduced modulo the maximum.
    pub fn new(seed1: u64, seed2: u64) -> MyRnd {
        MyRnd { seed1: seed1 % MAX_VALUE, seed2: seed2 % MAX_VALUE }
    }

    /// The generator of `RAND(n)` with a constant seed, as Item_func_rand seeds it.
    pub fn from_seed(n: i64) -> MyRnd {
        let n = n as u32 as u64;
        MyRnd::new(
            (n.wrapping_mul(0x10001).wrapping_add(55555555)) as u32 as u64,
            (n.wrapping_mul(0x10000001)) as u32 as u64,
        )
    }

    /// Next value in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.seed1 = (self.seed1 * 3 + self.seed2) % MAX_VALUE;
        self.seed2 = (self.seed1 + self.seed2 + 33) % MAX_VALUE;
        self.seed1 as f64 / MAX_VALUE as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_values() {
        let mut r = MyRnd::new(12345, 67890);
        assert_eq!(r.next_f64(), 0.00009771902123253701);
        // The fixture binlog's seeds give the fixture row's price.
        let mut r = MyRnd::new(680998572, 700892601);
        assert_eq!(crate::sql::value::fmt_double(r.next_f64()), "0.555445134225716");
    }
}
