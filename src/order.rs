//! Ordering the short lists the admin center sorts itself (a page of actions, the attached
//! hierarchies, the columns): an insertion sort, stable, whose code is a small fraction of the
//! standard library's sorts in the wasm bundle (measured in docs/performance.md).

use std::cmp::Ordering;

/// Sorts `items` by `compare`, keeping the order of equal items. Quadratic: for lists of at most
/// a few hundred items.
pub fn sort_short<T>(items: &mut [T], compare: impl Fn(&T, &T) -> Ordering) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && compare(&items[j - 1], &items[j]) == Ordering::Greater {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_keeps_the_order_of_equal_items() {
        let mut items = vec![(3, 'a'), (1, 'b'), (2, 'c'), (1, 'd'), (3, 'e'), (0, 'f')];
        sort_short(&mut items, |a, b| a.0.cmp(&b.0));
        assert_eq!(
            items,
            vec![(0, 'f'), (1, 'b'), (1, 'd'), (2, 'c'), (3, 'a'), (3, 'e')]
        );
        let mut empty: Vec<u8> = Vec::new();
        sort_short(&mut empty, u8::cmp);
        let mut many: Vec<u32> = (0..300).map(|i| (i * 7919) % 301).collect();
        sort_short(&mut many, u32::cmp);
        assert!(many.windows(2).all(|w| w[0] <= w[1]));
    }
}
