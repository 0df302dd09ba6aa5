//! The shortest condition for a set of configurations and variants: a cover by cubes, like a
//! Karnaugh map.

/// A point of a condition space: owner (local, kube), fb (off, on), N (0, > 0), variant index.
pub(super) type Point = [usize; 4];
/// A cube: each dimension fixed to a value or free.
pub(super) type Cube = [Option<usize>; 4];

/// Every point of a space with these dimension sizes, first dimension outermost.
pub(super) fn space(sizes: [usize; 4]) -> Vec<Point> {
    let mut points = Vec::new();
    for a in 0..sizes[0] {
        for b in 0..sizes[1] {
            for c in 0..sizes[2] {
                for d in 0..sizes[3] {
                    points.push([a, b, c, d]);
                }
            }
        }
    }
    points
}

pub(super) fn cube_has(cube: &Cube, p: &Point) -> bool {
    cube.iter().zip(p).all(|(c, v)| c.is_none_or(|c| c == *v))
}

/// Whether `outer` contains `inner` (every point of `inner` is in `outer`).
pub(super) fn cube_contains(outer: &Cube, inner: &Cube) -> bool {
    outer.iter().zip(inner).all(|(o, i)| o.is_none() || o == i)
}

/// The shortest readable condition for a set of points: a greedy cover by the largest cubes
/// that lie inside the set, each written as its fixed dimensions ("owner=kube, fb"), joined by
/// " or "; "—" when the set is the whole space.
pub(super) fn describe(
    points: &[Point],
    sizes: [usize; 4],
    literal: &dyn Fn(usize, usize) -> String,
) -> String {
    let domain = space(sizes);
    // Every cube; a dimension with a single value is never fixed (it says nothing).
    let mut cubes: Vec<Cube> = vec![[None; 4]];
    for (dim, &size) in sizes.iter().enumerate() {
        if size < 2 {
            continue;
        }
        let mut more = Vec::new();
        for cube in &cubes {
            for v in 0..size {
                let mut c = *cube;
                c[dim] = Some(v);
                more.push(c);
            }
        }
        cubes.extend(more);
    }
    let inside: Vec<Cube> = cubes
        .into_iter()
        .filter(|c| {
            domain
                .iter()
                .filter(|p| cube_has(c, p))
                .all(|p| points.contains(p))
        })
        .collect();
    let primes: Vec<Cube> = inside
        .iter()
        .filter(|c| !inside.iter().any(|o| o != *c && cube_contains(o, c)))
        .copied()
        .collect();
    let mut uncovered: Vec<Point> = points.to_vec();
    let mut chosen: Vec<Cube> = Vec::new();
    while !uncovered.is_empty() {
        // Most points first, then fewest literals; `max_by_key` keeps the last of equals, so
        // walk the primes backwards to keep the first in enumeration order.
        let best = primes
            .iter()
            .rev()
            .max_by_key(|c| {
                let covers = uncovered.iter().filter(|p| cube_has(c, p)).count();
                let fixed = c.iter().filter(|x| x.is_some()).count();
                (covers, std::cmp::Reverse(fixed))
            })
            .copied();
        let Some(best) = best.filter(|c| uncovered.iter().any(|p| cube_has(c, p))) else {
            break;
        };
        uncovered.retain(|p| !cube_has(&best, p));
        chosen.push(best);
    }
    let terms: Vec<String> = chosen
        .iter()
        .map(|c| {
            c.iter()
                .enumerate()
                .filter_map(|(d, v)| v.map(|v| literal(d, v)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    if terms.iter().all(String::is_empty) {
        "—".to_owned()
    } else {
        terms.join(" or ")
    }
}
