//! A run's throughput over time as an inline SVG: books/s per sample
//! interval (a tenth of a second, longer once a long run is thinned),
//! drawn with plotters, as the load-test reports are.

use plotters::prelude::*;

use super::samples::Samples;

const WIDTH: u32 = 760;
const HEIGHT: u32 = 280;
const FONT: &str = "sans-serif";
const LINE: RGBColor = RGBColor(0, 114, 178);

/// The chart of `samples` of a run that lasted `elapsed_ms`, or `None` when
/// there is nothing to draw.
pub fn throughput_svg(samples: &Samples, elapsed_ms: u64) -> Option<String> {
    if samples.books.is_empty() {
        return None;
    }
    let points = samples.points(elapsed_ms);
    let end = points.last().map_or(1.0, |(time, _)| *time).max(0.001);
    let top = points
        .iter()
        .map(|(_, rate)| *rate)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let mut svg = String::new();
    let drawn = draw(&mut svg, &points, end, top, samples.interval_ms);
    match drawn {
        Ok(()) => Some(svg),
        Err(error) => {
            tracing::warn!("drawing the throughput chart failed: {error}");
            None
        }
    }
}

fn draw(
    svg: &mut String,
    points: &[(f64, f64)],
    end: f64,
    top: f64,
    interval_ms: u64,
) -> Result<(), String> {
    drawing(svg, points, end, top, interval_ms).map_err(|error| error.to_string())
}

fn drawing<'a>(
    svg: &'a mut String,
    points: &[(f64, f64)],
    end: f64,
    top: f64,
    interval_ms: u64,
) -> Result<(), Box<dyn std::error::Error + 'a>> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!("books/s, per {interval_ms} ms");
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, (FONT, 16))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..end, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the trigger")
        .y_label_formatter(&|rate| bookstream::display::thousands(*rate as u64))
        .label_style((FONT, 12))
        .draw()?;
    // A step per sample: the rate held for the whole interval.
    let mut steps = Vec::with_capacity(points.len() * 2 + 1);
    let width = interval_ms as f64 / 1000.0;
    steps.push((0.0, 0.0));
    for &(time, rate) in points {
        steps.push((time - width, rate));
        steps.push((time, rate));
    }
    chart.draw_series(
        AreaSeries::new(steps, 0.0, LINE.mix(0.25)).border_style(LINE.stroke_width(2)),
    )?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_become_an_svg_and_no_samples_no_chart() {
        let mut samples = Samples::new();
        let mut ticks = 0;
        for books in [1000, 25_000, 31_000, 29_000] {
            samples.push(books, &mut ticks);
        }
        let svg = throughput_svg(&samples, 300).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("books/s"));
        assert_eq!(throughput_svg(&Samples::new(), 0), None);
    }
}
