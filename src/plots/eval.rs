//! `eval --plots DIR`: ROC and precision-recall curves, a reliability diagram and score histograms per label.

use std::path::{Path, PathBuf};

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{render_png, text, DrawResult, PlotError, FAKE_COLOUR, REAL_COLOUR};
use crate::eval::metrics;
use crate::eval::Evaluation;

pub const SIZE: (u32, u32) = (800, 600);
/// Bins of the reliability diagram and of the histograms (equal width over [0, 1]).
pub const CALIBRATION_BINS: usize = 10;
pub const HISTOGRAM_BINS: usize = 20;

/// Writes `roc.png`, `precision_recall.png`, `reliability.png` and `histogram.png` into `dir`.
pub fn write_all(e: &Evaluation, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let y: Vec<bool> = e.scored.iter().map(|s| s.1).collect();
    let p: Vec<f64> = e.scored.iter().map(|s| s.2).collect();
    metrics::check(&y, &p).map_err(|err| PlotError::Input { what: "eval plots".into(), reason: err.to_string() })?;
    Ok(vec![
        roc(&dir.join("roc.png"), e, &y, &p)?,
        precision_recall(&dir.join("precision_recall.png"), e, &y, &p)?,
        reliability(&dir.join("reliability.png"), &y, &p)?,
        histogram(&dir.join("histogram.png"), e, &y, &p)?,
    ])
}

fn square_chart<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    caption: &str,
    x_desc: &str,
    y_desc: &str,
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(caption, text(24))
        .margin(16)
        .x_label_area_size(52)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(text(15))
        .axis_desc_style(text(17))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    Ok(chart)
}

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(text(16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()?;
    Ok(())
}

fn roc(path: &Path, e: &Evaluation, y: &[bool], p: &[f64]) -> Result<PathBuf, PlotError> {
    let curve = metrics::roc_curve(y, p);
    render_png(path, SIZE, |root| -> DrawResult {
        let mut chart = square_chart(
            root,
            &format!("ROC curve: AUC {:.4}, {} real / {} fake videos", e.roc_auc, e.n_real, e.n_fake),
            "false-positive rate (real videos called fake)",
            "true-positive rate (fake videos caught)",
        )?;
        chart
            .draw_series(DashedLineSeries::new([(0.0, 0.0), (1.0, 1.0)], 6, 6, BLACK.mix(0.5).stroke_width(1)))?
            .label("chance (AUC 0.5)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLACK.mix(0.5)));
        let points: Vec<(f64, f64)> = curve.fpr.iter().copied().zip(curve.tpr.iter().copied()).collect();
        chart
            .draw_series(LineSeries::new(points, FAKE_COLOUR.stroke_width(3)))?
            .label(format!("model (AUC {:.4})", e.roc_auc))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], FAKE_COLOUR.stroke_width(3)));
        let eer_point = (e.eer, 1.0 - e.eer);
        chart
            .draw_series([Circle::new(eer_point, 9, BLACK.stroke_width(2))])?
            .label(format!("EER {:.4} (score ≥ {})", e.eer, threshold_text(e.eer_threshold)))
            .legend(|(x, y)| Circle::new((x + 12, y), 6, BLACK.stroke_width(2)));
        let half = (1.0 - e.at_half.true_real as f64 / (e.n_real as f64), e.at_half.true_fake as f64 / e.n_fake as f64);
        chart
            .draw_series([TriangleMarker::new(half, 8, REAL_COLOUR.filled())])?
            .label(format!("threshold 0.5 (accuracy {:.3})", e.at_half.accuracy))
            .legend(|(x, y)| TriangleMarker::new((x + 12, y), 6, REAL_COLOUR.filled()));
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

fn threshold_text(t: f64) -> String {
    if t.is_finite() {
        format!("{t:.3}")
    } else {
        "+inf".into()
    }
}

fn precision_recall(path: &Path, e: &Evaluation, y: &[bool], p: &[f64]) -> Result<PathBuf, PlotError> {
    let curve = metrics::precision_recall_curve(y, p);
    let base = e.n_fake as f64 / e.n as f64;
    render_png(path, SIZE, |root| -> DrawResult {
        let mut chart = square_chart(
            root,
            &format!("Precision-recall: average precision {:.4}", e.average_precision),
            "recall (fake videos caught)",
            "precision (called fake that are fake)",
        )?;
        chart
            .draw_series(DashedLineSeries::new([(0.0, base), (1.0, base)], 6, 6, BLACK.mix(0.5).stroke_width(1)))?
            .label(format!("chance (fake share {base:.3})"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLACK.mix(0.5)));
        // average_precision is the area under this step function: precision holds until recall next rises.
        let mut steps = Vec::with_capacity(curve.recall.len() * 2);
        for i in (0..curve.recall.len()).rev() {
            if let Some(&(prev_r, _)) = steps.last() {
                steps.push((prev_r, curve.precision[i]));
            }
            steps.push((curve.recall[i], curve.precision[i]));
        }
        chart
            .draw_series(LineSeries::new(steps, FAKE_COLOUR.stroke_width(3)))?
            .label(format!("model (AP {:.4})", e.average_precision))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], FAKE_COLOUR.stroke_width(3)));
        legend(&mut chart, SeriesLabelPosition::LowerLeft)
    })
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    /// Mean predicted probability in the bin.
    pub mean_score: f64,
    /// Share of fakes in the bin.
    pub fake_share: f64,
}

/// Equal-width bins over [0, 1], empty bins left out, binned like scikit-learn's
/// `calibration_curve(strategy="uniform")` (edges `k · (1/bins)` as numpy's `linspace`, a score on an inner
/// edge goes to the bin above, 1.0 to the last).
pub fn calibration_bins(y: &[bool], p: &[f64], bins: usize) -> Vec<CalibrationBin> {
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    for (&l, &s) in y.iter().zip(p) {
        let b = bin_of(s, bins);
        sums[b].0 += 1;
        sums[b].1 += s;
        sums[b].2 += usize::from(l);
    }
    sums.iter()
        .enumerate()
        .filter(|(_, (n, _, _))| *n > 0)
        .map(|(b, &(n, sum, fakes))| CalibrationBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            count: n,
            mean_score: sum / n as f64,
            fake_share: fakes as f64 / n as f64,
        })
        .collect()
}

/// Expected calibration error: Σ (n_b / n) |fake share − mean score| over the bins.
pub fn expected_calibration_error(bins: &[CalibrationBin]) -> f64 {
    let n: usize = bins.iter().map(|b| b.count).sum();
    bins.iter().map(|b| b.count as f64 / n as f64 * (b.fake_share - b.mean_score).abs()).sum()
}

fn reliability(path: &Path, y: &[bool], p: &[f64]) -> Result<PathBuf, PlotError> {
    let bins = calibration_bins(y, p, CALIBRATION_BINS);
    let ece = expected_calibration_error(&bins);
    let max_count = bins.iter().map(|b| b.count).max().unwrap_or(1) as f64;
    render_png(path, SIZE, |root| -> DrawResult {
        let mut chart = square_chart(
            root,
            &format!("Reliability: expected calibration error {ece:.4}"),
            "predicted fake probability",
            "observed share of fakes",
        )?;
        // Bars: how many videos fall in each bin (scaled to a quarter of the height), so empty regions show.
        chart
            .draw_series(bins.iter().map(|b| {
                Rectangle::new(
                    [(b.lower, 0.0), (b.upper, 0.25 * b.count as f64 / max_count)],
                    REAL_COLOUR.mix(0.2).filled(),
                )
            }))?
            .label(format!("videos per bin (tallest: {max_count})"))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 24, y + 5)], REAL_COLOUR.mix(0.2).filled()));
        chart
            .draw_series(DashedLineSeries::new([(0.0, 0.0), (1.0, 1.0)], 6, 6, BLACK.mix(0.5).stroke_width(1)))?
            .label("perfectly calibrated")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLACK.mix(0.5)));
        let points: Vec<(f64, f64)> = bins.iter().map(|b| (b.mean_score, b.fake_share)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), FAKE_COLOUR.stroke_width(3)))?
            .label("model")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], FAKE_COLOUR.stroke_width(3)));
        chart.draw_series(points.iter().map(|&pt| Circle::new(pt, 5, FAKE_COLOUR.filled())))?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// `np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], s, side="right")`.
fn bin_of(s: f64, bins: usize) -> usize {
    let step = 1.0 / bins as f64;
    (1..bins).take_while(|&k| k as f64 * step <= s).count()
}

/// Counts per equal-width bin over [0, 1] (the last bin closed).
pub fn histogram_counts(scores: impl Iterator<Item = f64>, bins: usize) -> Vec<usize> {
    let mut counts = vec![0; bins];
    for s in scores {
        counts[bin_of(s, bins)] += 1;
    }
    counts
}

fn histogram(path: &Path, e: &Evaluation, y: &[bool], p: &[f64]) -> Result<PathBuf, PlotError> {
    let of =
        |fake: bool| histogram_counts(y.iter().zip(p).filter(|(&l, _)| l == fake).map(|(_, &s)| s), HISTOGRAM_BINS);
    let (real, fake) = (of(false), of(true));
    // Head room above the tallest bar for the legend.
    let top = (real.iter().chain(&fake).copied().max().unwrap_or(1).max(1) as f64 * 1.45).ceil();
    render_png(path, SIZE, |root| -> DrawResult {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption("Video scores by true label", text(24))
            .margin(16)
            .x_label_area_size(52)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..1f64, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("predicted fake probability")
            .y_desc("videos")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style(text(15))
            .axis_desc_style(text(17))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let w = 1.0 / HISTOGRAM_BINS as f64;
        for (counts, colour, name, n) in
            [(&real, REAL_COLOUR, "REAL", e.n_real), (&fake, FAKE_COLOUR, "FAKE", e.n_fake)]
        {
            chart
                .draw_series(counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(i, &c)| {
                    Rectangle::new([(i as f64 * w, 0.0), ((i + 1) as f64 * w, c as f64)], colour.mix(0.45).filled())
                }))?
                .label(format!("{name} ({n} videos)"))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 24, y + 5)], colour.mix(0.45).filled()));
        }
        chart
            .draw_series(DashedLineSeries::new([(0.5, 0.0), (0.5, top)], 8, 5, BLACK.stroke_width(2)))?
            .label("0.5: called fake above")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLACK.stroke_width(2)));
        if e.eer_threshold.is_finite() {
            let t = e.eer_threshold;
            chart
                .draw_series(DashedLineSeries::new([(t, 0.0), (t, top)], 3, 3, BLACK.mix(0.6).stroke_width(2)))?
                .label(format!("EER threshold {t:.3}"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], BLACK.mix(0.6).stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_bins_by_hand() {
        let y = [false, true, true, false, true];
        let p = [0.05, 0.15, 0.95, 0.1, 1.0];
        let bins = calibration_bins(&y, &p, 10);
        assert_eq!(bins.len(), 3);
        assert_eq!((bins[0].count, bins[0].fake_share), (1, 0.0));
        assert_eq!((bins[1].count, bins[1].fake_share), (2, 0.5)); // 0.1 and 0.15 share [0.1, 0.2)
        assert_eq!((bins[2].count, bins[2].fake_share), (2, 1.0)); // 1.0 falls in the last bin
        assert!((bins[2].mean_score - 0.975).abs() < 1e-12);
        assert_eq!(histogram_counts(p.into_iter(), 2), vec![3, 2]);
    }
}
