/// Hook for comparing adaptive sampling with a fixed sample count.
///
/// Issue 5 adds `samples: "auto"` to `MonteCarloPredictor` (stop drawing passes once the summary is stable). When it
/// lands, `evaluate --compare-adaptive` is meant to run the test and OOD sets once with the adaptive mode and once
/// with fixed N = 100 (same per-image seeds), and report for each: accuracy, OOD AUROC of the best MC score, and the
/// mean number of passes per image, into the `"adaptive"` member of the result JSON (null until then) and a table of
/// EVALUATION.md. Until then the flag fails with ``unavailableMessage``.
enum AdaptiveComparison {
    static let unavailableMessage = """
        --compare-adaptive needs MonteCarloPredictor's adaptive mode (samples: "auto", issue 5), which is not in \
        this build yet; see Sources/mcdropout-eval/AdaptiveComparison.swift
        """
}
