//! "Did you mean ...?" for names a user mistyped, at a cost that does not grow with the
//! number of names times the number of mistakes: a look-up skips names whose length alone
//! rules them out, stops each comparison once it is too far, and examines a bounded
//! number of names. [`Names`] is for many look-ups in one large set (every object id of a
//! definition): indexed once, each look-up examines only the names beside the word.

/// At most this many names are compared with the word in one look-up by [`closest`].
const MAX_COMPARED: usize = 1_000;

/// Up to this many names, [`Names`] compares the word with every one.
const COMPARE_ALL: usize = 256;

/// How many names [`Names`] compares on each side of the word, in each sorted order.
const NEIGHBOURS: usize = 8;

/// The candidate closest to `word`, if one is close enough to be what the user meant:
/// at most a third of the word's length in edits (at least 1, at most 3), ignoring case.
/// Of equally close candidates, the first. Compares at most [`MAX_COMPARED`] candidates of
/// a length that could be close enough.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    nearest(word, candidates).map(|(_, candidate)| candidate)
}

/// [`closest`], with the candidate's distance from `word` in edits.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<(usize, &'a str)> {
    let word = lowercase(word);
    let limit = limit(&word);
    let mut buffer = Vec::new();
    let mut best: Option<(usize, &'a str)> = None;
    let mut compared = 0;
    for candidate in candidates {
        if compared == MAX_COMPARED {
            break;
        }
        lowercase_into(candidate, &mut buffer);
        if buffer.len().abs_diff(word.len()) > limit {
            continue;
        }
        compared += 1;
        let within = best.map_or(limit, |(distance, _)| distance);
        if let Some(distance) = distance_within(&word, &buffer, within)
            && best.is_none_or(|(known, _)| distance < known)
        {
            best = Some((distance, candidate));
        }
    }
    best
}

/// `; did you mean "x"?` or nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    hint(closest(word, candidates))
}

/// `; did you mean "x"?` for a suggestion, or nothing.
pub fn hint(candidate: Option<&str>) -> String {
    candidate
        .map(|candidate| format!("; did you mean \"{candidate}\"?"))
        .unwrap_or_default()
}

/// A set of names to suggest from, indexed once. Up to [`COMPARE_ALL`] names, a look-up
/// compares the word with each (as [`closest`] does); past that, with the
/// [`NEIGHBOURS`] names on either side of it in alphabetical order and in the order of the
/// names read backwards, since a mistyped name almost always keeps its beginning or its
/// end. A look-up then costs a few dozen comparisons however many names there are.
#[derive(Debug, Clone, Default)]
pub struct Names<'a> {
    names: Vec<&'a str>,
    /// Each name lowercased, as characters.
    lowered: Vec<Vec<char>>,
    /// Indices into `names`, by lowercased name; empty up to [`COMPARE_ALL`] names.
    forward: Vec<usize>,
    /// Indices into `names`, by lowercased name read backwards.
    backward: Vec<usize>,
}

impl<'a> Names<'a> {
    pub fn new(names: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<&'a str> = names.into_iter().collect();
        let lowered: Vec<Vec<char>> = names.iter().map(|name| lowercase(name)).collect();
        let (mut forward, mut backward) = (Vec::new(), Vec::new());
        if names.len() > COMPARE_ALL {
            forward = (0..names.len()).collect();
            forward.sort_by(|&a, &b| lowered[a].cmp(&lowered[b]));
            backward = (0..names.len()).collect();
            backward.sort_by(|&a, &b| lowered[a].iter().rev().cmp(lowered[b].iter().rev()));
        }
        Self {
            names,
            lowered,
            forward,
            backward,
        }
    }

    /// The name closest to `word` if one is close enough, as [`closest`] decides.
    pub fn closest(&self, word: &str) -> Option<&'a str> {
        self.nearest(word).map(|(_, name)| name)
    }

    /// `; did you mean "x"?` or nothing.
    pub fn did_you_mean(&self, word: &str) -> String {
        hint(self.closest(word))
    }

    /// The closest name close enough, with its distance; the first of equally close ones.
    pub fn nearest(&self, word: &str) -> Option<(usize, &'a str)> {
        let word = lowercase(word);
        let limit = limit(&word);
        let mut examined: Vec<usize> = if self.forward.is_empty() {
            (0..self.names.len()).collect()
        } else {
            let at = self.forward.partition_point(|&index| self.lowered[index] < word);
            let back = self
                .backward
                .partition_point(|&index| self.lowered[index].iter().rev().lt(word.iter().rev()));
            let mut examined: Vec<usize> = neighbours(&self.forward, at).collect();
            examined.extend(neighbours(&self.backward, back));
            examined.sort_unstable();
            examined.dedup();
            examined
        };
        examined.retain(|&index| self.lowered[index].len().abs_diff(word.len()) <= limit);
        let mut best: Option<(usize, usize)> = None;
        for index in examined {
            let within = best.map_or(limit, |(distance, _)| distance);
            if let Some(distance) = distance_within(&word, &self.lowered[index], within)
                && best.is_none_or(|(known, _)| distance < known)
            {
                best = Some((distance, index));
            }
        }
        best.map(|(distance, index)| (distance, self.names[index]))
    }
}

/// The up to [`NEIGHBOURS`] entries of `sorted` on each side of position `at`.
fn neighbours(sorted: &[usize], at: usize) -> impl Iterator<Item = usize> + '_ {
    let start = at.saturating_sub(NEIGHBOURS);
    let end = at.saturating_add(NEIGHBOURS).min(sorted.len());
    sorted[start..end].iter().copied()
}

/// How many edits make a name close enough to a word: a third of its length, from 1 to 3.
fn limit(word: &[char]) -> usize {
    (word.len() / 3).clamp(1, 3)
}

fn lowercase(text: &str) -> Vec<char> {
    let mut chars = Vec::with_capacity(text.len());
    lowercase_into(text, &mut chars);
    chars
}

fn lowercase_into(text: &str, chars: &mut Vec<char>) {
    chars.clear();
    chars.extend(text.chars().flat_map(char::to_lowercase));
}

/// Levenshtein distance over characters, with adjacent transpositions counted as one edit.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    distance_within(&a, &b, usize::MAX).unwrap_or(usize::MAX)
}

/// The distance between `a` and `b` when it is at most `limit`; `None` as soon as it is
/// certain to be more: the lengths differ by more, or a whole row of the table exceeds it.
fn distance_within(a: &[char], b: &[char], limit: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut previous_previous: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    let mut previous_least = 0;
    for i in 1..=a.len() {
        current[0] = i;
        let mut least = i;
        for j in 1..=b.len() {
            let substitution = previous[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(previous[j] + 1).min(current[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(previous_previous[j - 2] + 1);
            }
            current[j] = best;
            least = least.min(best);
        }
        // A transposition reaches back two rows, so stop only when both are too far.
        if least > limit && previous_least > limit {
            return None;
        }
        previous_least = least;
        std::mem::swap(&mut previous_previous, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    Some(previous[b.len()]).filter(|&distance| distance <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_close_names_and_nothing_for_far_ones() {
        let types = ["S3DataNode", "ShellCommandActivity", "Schedule", "SnsAlarm"];
        assert_eq!(closest("S3DateNode", types), Some("S3DataNode"));
        assert_eq!(closest("shellcommandactivity", types), Some("ShellCommandActivity"));
        assert_eq!(closest("Shedule", types), Some("Schedule"));
        assert_eq!(closest("Lambda", types), None);
        assert_eq!(did_you_mean("SnsAlram", types), "; did you mean \"SnsAlarm\"?");
        assert_eq!(did_you_mean("", types), "");
    }

    #[test]
    fn counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("é", "e"), 1);
    }

    #[test]
    fn a_bounded_distance_agrees_with_the_full_one_up_to_its_limit() {
        // Given pairs of words at known distances
        let pairs = [
            ("kitten", "sitting"),
            ("ab", "ba"),
            ("abcdef", "badcfe"),
            ("", "abc"),
            ("node", "nodes"),
            ("Schedule", "Shedule"),
        ];
        for (a, b) in pairs {
            let full = edit_distance(a, b);
            let (a, b) = (lowercase(a), lowercase(b));
            for limit in 0..5 {
                // When the distance is bounded by each limit in turn
                let bounded = distance_within(&a, &b, limit);
                // Then it is the full distance within the limit, and nothing beyond it
                assert_eq!(bounded, (full <= limit).then_some(full), "{a:?} {b:?} within {limit}");
            }
        }
    }

    #[test]
    fn the_first_of_equally_close_names_is_suggested() {
        assert_eq!(closest("nod", ["node", "nods"]), Some("node"));
        assert_eq!(Names::new(["node", "nods"]).closest("nod"), Some("node"));
    }

    #[test]
    fn an_index_of_many_names_finds_a_typo_at_either_end_or_in_the_middle() {
        // Given five thousand ids that differ only in their digits
        let ids: Vec<String> = (0..5_000).map(|index| format!("Task{index:04}")).collect();
        let names = Names::new(ids.iter().map(String::as_str));
        // When words are mistyped at the start, at the end and in the middle
        // Then the id each was meant to be is found
        assert_eq!(names.closest("Tsak2501"), Some("Task2501"));
        assert_eq!(names.closest("Tas2501"), Some("Task2501"));
        assert_eq!(names.closest("Taskk2501"), Some("Task2501"));
        assert_eq!(names.closest("Task2501x"), Some("Task2501"));
        assert_eq!(names.closest("task4999"), Some("Task4999"));
        assert_eq!(names.closest("Tsk0000"), Some("Task0000"));
        assert_eq!(names.closest("Something"), None);
    }

    #[test]
    fn an_index_of_few_names_suggests_what_closest_does() {
        let types = ["S3DataNode", "ShellCommandActivity", "Schedule", "SnsAlarm"];
        let names = Names::new(types);
        for word in [
            "S3DateNode",
            "shellcommandactivity",
            "Shedule",
            "Lambda",
            "SnsAlram",
            "",
        ] {
            assert_eq!(names.closest(word), closest(word, types), "{word}");
        }
        assert_eq!(names.did_you_mean("SnsAlram"), "; did you mean \"SnsAlarm\"?");
    }

    #[test]
    fn closest_compares_a_bounded_number_of_candidates() {
        // Given more candidates of a plausible length than it compares, the match last
        let mut candidates: Vec<String> = (0..MAX_COMPARED).map(|index| format!("zz{index:04}")).collect();
        candidates.push("abcdef".to_owned());
        // When the word matches only the last
        // Then it is not found: the look-up stopped first
        assert_eq!(closest("abcdeg", candidates.iter().map(String::as_str)), None);
        // And a candidate ruled out by its length is not counted
        let mut short: Vec<String> = (0..MAX_COMPARED).map(|index| format!("{index}")).collect();
        short.push("abcdef".to_owned());
        assert_eq!(closest("abcdeg", short.iter().map(String::as_str)), Some("abcdef"));
    }
}
