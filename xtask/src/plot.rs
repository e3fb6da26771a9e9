//! The throughput-by-size plot of `cargo xtask bench`: SDK and curl, download and upload, one PNG.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;

/// One line of the plot: (file size in MiB, throughput in MB/s) points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Index into the palette; SDK and curl of one direction share a color, curl is dashed.
    pub color: usize,
    pub dashed: bool,
}

/// Fonts ab_glyph can draw labels with; the first one present is used.
const FONTS: [&str; 2] = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"];

pub fn throughput_by_size(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    let font = FONTS
        .iter()
        .find_map(|f| std::fs::read(f).ok())
        .context("the plot needs DejaVu Sans (Debian: apt-get install fonts-dejavu-core)")?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into_boxed_slice()))
        .map_err(|_| anyhow!("DejaVu Sans is not a usable font"))?;
    let sizes = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (min, max) = sizes.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let top = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max) * 1.15;
    let root = BitMapBackend::new(path, (1000, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d((min * 0.8..max * 1.25).log_scale(), 0.0..top.max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("file size")
        .y_desc("throughput, MB/s")
        .x_label_formatter(&|mib| if *mib >= 1024.0 { format!("{} GiB", mib / 1024.0) } else { format!("{mib} MiB") })
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .draw()?;
    for s in series {
        let color = Palette99::pick(s.color).to_rgba();
        let style = color.stroke_width(3);
        let points = s.points.clone();
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(points.clone(), 10, 6, style))?
        } else {
            chart.draw_series(LineSeries::new(points.clone(), style))?
        };
        let dashed = s.dashed;
        drawn.label(&s.label).legend(move |(x, y)| {
            let first = if dashed { x + 9 } else { x + 24 };
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (first - x, 0)], style)
                + PathElement::new(if dashed { vec![(15, 0), (24, 0)] } else { vec![] }, style)
        });
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
