//! `plot-loss`: a training run's losses per epoch, and the best epochs picked the way the solution's
//! `plot_loss.py` does (dfdc-solution.md §3.4): weighted validation loss `(1.4 · fake_loss + real_loss) / 2`, the
//! five lowest, ignoring the first epochs (the original drops indices ≤ 16, where the loss is still noisy).

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{render_png, text, PlotError, FAKE_COLOUR, REAL_COLOUR};
use crate::train::EpochRecord;

/// plot_loss.py's weight on the fake loss.
pub const FAKE_WEIGHT: f64 = 1.4;

/// `(1.4 · fake_loss + real_loss) / 2`.
pub fn weighted_loss(r: &EpochRecord) -> f64 {
    (FAKE_WEIGHT * r.valid.fake_loss + r.valid.real_loss) / 2.0
}

/// The `count` epochs with the lowest weighted loss among those after the first `skip`, best first.
pub fn best_epochs(records: &[EpochRecord], skip: usize, count: usize) -> Vec<usize> {
    let mut candidates: Vec<&EpochRecord> = records.iter().skip(skip).filter(|r| weighted_loss(r).is_finite()).collect();
    candidates.sort_by(|a, b| weighted_loss(a).total_cmp(&weighted_loss(b)));
    candidates.into_iter().take(count).map(|r| r.epoch).collect()
}

/// Draws train loss, fake/real validation losses and the weighted loss per epoch; the best epochs get a marker.
pub fn plot_losses(records: &[EpochRecord], best: &[usize], out: &Path) -> Result<PathBuf, PlotError> {
    if records.is_empty() {
        return Err(PlotError::Input { what: out.display().to_string(), reason: "no epochs to plot".into() });
    }
    let series: [(&str, RGBColor, Vec<(f64, f64)>); 4] = [
        ("train loss", RGBColor(90, 90, 90), records.iter().map(|r| (r.epoch as f64, r.train_loss)).collect()),
        ("fake_loss", FAKE_COLOUR, records.iter().map(|r| (r.epoch as f64, r.valid.fake_loss)).collect()),
        ("real_loss", REAL_COLOUR, records.iter().map(|r| (r.epoch as f64, r.valid.real_loss)).collect()),
        ("weighted (1.4·fake + real)/2", RGBColor(44, 160, 44), records.iter().map(|r| (r.epoch as f64, weighted_loss(r))).collect()),
    ];
    let finite = series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).filter(|v| v.is_finite());
    let y_max = finite.fold(0.0f64, f64::max).max(1e-3) * 1.08;
    let x_max = records.iter().map(|r| r.epoch).max().unwrap_or(1) as f64 + 0.5;
    render_png(out, (900, 560), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption("losses per epoch", text(22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.5f64..x_max, 0f64..y_max)?;
        chart.configure_mesh().x_desc("epoch").y_desc("loss").label_style(text(13)).draw()?;
        for (name, colour, points) in &series {
            let pts: Vec<(f64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        }
        let marks: Vec<(f64, f64)> =
            records.iter().filter(|r| best.contains(&r.epoch)).map(|r| (r.epoch as f64, weighted_loss(r))).collect();
        chart
            .draw_series(marks.iter().map(|&p| TriangleMarker::new(p, 9, BLACK.filled())))?
            .label("best epochs")
            .legend(|(x, y)| TriangleMarker::new((x + 9, y), 6, BLACK.filled()));
        chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).label_font(text(13)).draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::validate::ValidMetrics;

    fn rec(epoch: usize, fake: f64, real: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 0.5,
            train_images: 1,
            train_seconds: 1.0,
            images_per_sec: 1.0,
            lr: 0.01,
            valid: ValidMetrics { fake_loss: fake, real_loss: real, bce: 0.0, log_loss: 0.0, auc: None, videos_fake: 1, videos_real: 1, crops: 2 },
            model: String::new(),
        }
    }

    #[test]
    fn best_epochs_use_the_weighted_loss_and_skip_early_ones() {
        // Epoch 2 has the lower plain mean but the higher weighted loss.
        let r = vec![rec(1, 0.0, 0.0), rec(2, 0.3, 0.1), rec(3, 0.2, 0.25), rec(4, 0.5, 0.5)];
        assert_eq!(best_epochs(&r, 1, 2), vec![3, 2]);
        assert_eq!(best_epochs(&r, 0, 1), vec![1]);
    }
}
