//! `kpix-demo`: creates a realistic demo organization (users, teams,
//! dashboards, about forty French KPIs with two years of values, actions and
//! comments) through the same `kpix_shared::db` functions the API uses, and
//! prints the logins. With `--kpis N --values-per-kpi M` the same generator
//! builds a large organization for benchmarks.
use std::{process::ExitCode, time::Instant};

use chrono::{Days, NaiveDate, Utc};
use kpix_shared::{
    auth::password::hash_password,
    db::{
        self,
        action_plans::{ActionFields, NewAction},
        comments::NewComment,
        dashboards::NewDashboard,
        kpi_values::ValueWrite,
        kpis::KpiFields,
        users::NewUser,
    },
    domain::{ActionStatus, Direction, Frequency, Period, Role, Thresholds},
    ids::{ActionId, DashboardId, KpiId, OrganizationId, TeamId, UserId},
};
use rust_decimal::Decimal;
use sqlx::PgConnection;

const USAGE: &str = "\
kpix-demo: create a demo organization in a kpix database

usage: kpix-demo [--database-url URL] [--organization-name NAME] [--password PASSWORD]
                 [--kpis N] [--values-per-kpi M] [--seed S]
       kpix-demo --report-sql overview|top-risks|direction|missing

  --database-url URL        PostgreSQL URL (default: $DATABASE_URL); migrations are applied first
  --organization-name NAME  default \"Démo Industrie\"; the logins are <name>@<slug of NAME>.example
  --password PASSWORD       password of every demo user (default \"kpix-demo-2026\")
  --kpis N                  benchmark size: N KPIs (about 20 per dashboard) instead of the
                            ~40-KPI realistic demo
  --values-per-kpi M        with --kpis: M values per KPI, the last M periods (default 100)
  --seed S                  random seed (default 42); the same seed gives the same data
  --report-sql NAME         print the SQL the API runs for that report, as a pgbench script
                            (variables :organization_id :user_id :is_admin :today :limit
                            :week_start; no filters), and exit
";

const BATCH: usize = 5_000;

#[derive(Debug)]
struct Args {
    database_url: String,
    organization_name: String,
    password: String,
    kpis: Option<usize>,
    values_per_kpi: usize,
    seed: u64,
    report_sql: Option<String>,
}

fn parse_args(mut raw: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut database_url = std::env::var("DATABASE_URL").ok();
    let mut args = Args {
        database_url: String::new(),
        organization_name: "Démo Industrie".to_owned(),
        password: "kpix-demo-2026".to_owned(),
        kpis: None,
        values_per_kpi: 100,
        seed: 42,
        report_sql: None,
    };
    while let Some(arg) = raw.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| raw.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = |text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{name}: '{text}' is not a positive integer"))
        };
        match name.as_str() {
            "--database-url" => database_url = Some(value()?),
            "--organization-name" => args.organization_name = value()?.trim().to_owned(),
            "--password" => args.password = value()?,
            "--kpis" => args.kpis = Some(number(value()?)? as usize),
            "--values-per-kpi" => args.values_per_kpi = number(value()?)? as usize,
            "--seed" => args.seed = number(value()?)?,
            "--report-sql" => args.report_sql = Some(value()?),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if args.report_sql.is_some() {
        return Ok(Some(args));
    }
    args.database_url = database_url
        .filter(|u| !u.trim().is_empty())
        .ok_or("--database-url or DATABASE_URL is required")?;
    if args.organization_name.is_empty() || slug(&args.organization_name).is_empty() {
        return Err("--organization-name needs letters or digits".into());
    }
    if args.password.chars().count() < 8 {
        return Err("--password needs at least 8 characters".into());
    }
    if args.kpis == Some(0) || args.values_per_kpi == 0 {
        return Err("--kpis and --values-per-kpi must be positive".into());
    }
    Ok(Some(args))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("kpix-demo: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(name) = &args.report_sql {
        return match report_sql(name) {
            Some(script) => {
                println!("{script}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("kpix-demo: --report-sql: no report named '{name}'");
                ExitCode::from(2)
            }
        };
    }
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kpix-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A report's statement with its parameters as pgbench variables, the
/// filters (process name, dashboard id) left null.
fn report_sql(name: &str) -> Option<String> {
    let statement = db::reports::statements()
        .into_iter()
        .find(|s| s.name == name)?;
    let mut sql = statement.sql;
    // from the highest number down, so that $1 does not eat the start of $10
    for (i, param) in statement.params.iter().enumerate().rev() {
        let value = match *param {
            "process_name" | "dashboard_id" => "null".to_owned(),
            other => format!(":{other}"),
        };
        sql = sql.replace(&format!("${}", i + 1), &value);
    }
    Some(format!("{sql};"))
}

// ---------------------------------------------------------------------------
// the catalogue

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Green,
    Orange,
    Red,
    Critical,
}

use Direction::{DownIsBetter as DOWN, UpIsBetter as UP};
use Frequency::{Daily as D, Monthly as M, Quarterly as Q, Weekly as W, Yearly as Y};
use Level::{Critical as CRIT, Green as GREEN, Orange as ORANGE, Red as RED};

/// A KPI of the demo: thresholds, and where its values go over two years.
struct KpiSpec {
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    frequency: Frequency,
    direction: Direction,
    green: f64,
    orange: f64,
    red: Option<f64>,
    decimals: u32,
    from: Level,
    to: Level,
    /// The last completed period has no value yet.
    late: bool,
}

#[allow(clippy::too_many_arguments)]
const fn k(
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    frequency: Frequency,
    direction: Direction,
    (green, orange, red): (f64, f64, Option<f64>),
    decimals: u32,
    (from, to): (Level, Level),
    late: bool,
) -> KpiSpec {
    KpiSpec {
        code,
        name,
        unit,
        frequency,
        direction,
        green,
        orange,
        red,
        decimals,
        from,
        to,
        late,
    }
}

struct DashboardSpec {
    title: &'static str,
    process: &'static str,
    description: &'static str,
    /// Index in [`TEAMS`]; `None`: shared with the whole organization.
    team: Option<usize>,
    /// Index in [`USERS`].
    owner: usize,
    kpis: &'static [KpiSpec],
}

/// (local part of the e-mail, full name, role, teams)
const USERS: &[(&str, &str, Role, &[usize])] = &[
    ("admin", "Claire Martin", Role::Admin, &[]),
    ("julien.moreau", "Julien Moreau", Role::User, &[0]),
    ("sophie.bernard", "Sophie Bernard", Role::User, &[1]),
    ("karim.haddad", "Karim Haddad", Role::User, &[0, 1]),
    ("elodie.petit", "Élodie Petit", Role::User, &[]),
];

const TEAMS: &[&str] = &["Production", "Supply chain"];

#[rustfmt::skip]
const PRODUCTION: &[KpiSpec] = &[
    k("PRD-TRS", "Taux de rendement synthétique (TRS)", "%", D, UP, (85.0, 75.0, Some(60.0)), 1, (GREEN, RED), false),
    k("PRD-VOL", "Volume produit", "unités", D, UP, (1200.0, 1000.0, Some(800.0)), 0, (ORANGE, GREEN), false),
    k("PRD-REB", "Taux de rebut", "%", W, DOWN, (2.0, 3.5, Some(5.0)), 2, (RED, ORANGE), false),
    k("PRD-CAD", "Respect de la cadence", "%", W, UP, (95.0, 90.0, Some(80.0)), 1, (GREEN, GREEN), false),
    k("PRD-HNP", "Heures d'arrêt non planifiées", "h", W, DOWN, (4.0, 8.0, Some(12.0)), 1, (ORANGE, GREEN), true),
    k("PRD-CU", "Coût unitaire de production", "€/unité", M, DOWN, (12.5, 13.5, Some(15.0)), 2, (GREEN, ORANGE), false),
    k("PRD-PDP", "Respect du plan de production", "%", M, UP, (95.0, 90.0, Some(85.0)), 1, (ORANGE, GREEN), false),
    k("PRD-ENE", "Consommation énergétique par unité", "kWh/unité", M, DOWN, (3.2, 3.6, Some(4.0)), 2, (RED, GREEN), false),
    k("PRD-CAP", "Taux d'utilisation des capacités", "%", Q, UP, (80.0, 70.0, Some(60.0)), 1, (GREEN, ORANGE), false),
];

#[rustfmt::skip]
const MAINTENANCE: &[KpiSpec] = &[
    k("MNT-MTBF", "Temps moyen entre pannes (MTBF)", "h", M, UP, (200.0, 150.0, Some(100.0)), 0, (ORANGE, GREEN), false),
    k("MNT-MTTR", "Temps moyen de réparation (MTTR)", "h", M, DOWN, (2.0, 4.0, Some(6.0)), 1, (GREEN, RED), false),
    k("MNT-PREV", "Part de maintenance préventive", "%", M, UP, (70.0, 60.0, Some(50.0)), 1, (RED, ORANGE), true),
    k("MNT-BKL", "Backlog d'ordres de travail", "OT", W, DOWN, (20.0, 35.0, Some(50.0)), 0, (ORANGE, ORANGE), false),
    k("MNT-DISP", "Disponibilité des équipements", "%", D, UP, (95.0, 90.0, Some(85.0)), 1, (GREEN, GREEN), false),
    k("MNT-BUD", "Écart au budget maintenance", "%", Q, DOWN, (0.0, 5.0, Some(10.0)), 1, (GREEN, RED), false),
];

#[rustfmt::skip]
const LOGISTIQUE: &[KpiSpec] = &[
    k("LOG-OTD", "Taux de service (OTD)", "%", W, UP, (95.0, 90.0, Some(85.0)), 1, (GREEN, CRIT), false),
    k("LOG-OTIF", "Livraisons complètes et à l'heure (OTIF)", "%", M, UP, (92.0, 85.0, Some(80.0)), 1, (ORANGE, ORANGE), false),
    k("LOG-STK", "Couverture de stock", "jours", W, DOWN, (20.0, 30.0, Some(45.0)), 0, (RED, GREEN), false),
    k("LOG-ROT", "Rotation des stocks", "tours/an", Q, UP, (8.0, 6.0, Some(4.0)), 1, (ORANGE, GREEN), false),
    k("LOG-LIT", "Litiges transport", "litiges", M, DOWN, (5.0, 10.0, Some(15.0)), 0, (GREEN, RED), false),
    k("LOG-CTR", "Coût de transport par palette", "€", M, DOWN, (45.0, 50.0, Some(58.0)), 2, (GREEN, ORANGE), true),
    k("LOG-PREP", "Délai de préparation des commandes", "h", D, DOWN, (24.0, 36.0, Some(48.0)), 1, (ORANGE, GREEN), false),
    k("LOG-INV", "Fiabilité des stocks (inventaire)", "%", Q, UP, (98.0, 95.0, Some(90.0)), 1, (GREEN, GREEN), false),
    k("LOG-RUP", "Taux de rupture", "%", W, DOWN, (1.0, 2.5, Some(4.0)), 2, (RED, ORANGE), false),
];

#[rustfmt::skip]
const QUALITE: &[KpiSpec] = &[
    k("QUA-PPM", "Non-conformités clients", "ppm", M, DOWN, (150.0, 300.0, Some(500.0)), 0, (GREEN, CRIT), false),
    k("QUA-REC", "Réclamations clients", "réclamations", M, DOWN, (10.0, 20.0, Some(30.0)), 0, (RED, GREEN), false),
    k("QUA-NPS", "Satisfaction client (NPS)", "points", Q, UP, (40.0, 30.0, Some(10.0)), 0, (ORANGE, GREEN), false),
    k("QUA-FPY", "Rendement premier passage (FPY)", "%", W, UP, (97.0, 94.0, Some(90.0)), 1, (GREEN, ORANGE), false),
    k("QUA-AUD", "Audits internes réalisés", "%", Q, UP, (100.0, 90.0, Some(75.0)), 0, (ORANGE, GREEN), true),
    k("QUA-CNQ", "Coût de non-qualité", "k€", M, DOWN, (20.0, 35.0, Some(50.0)), 1, (ORANGE, RED), false),
    k("QUA-DRT", "Délai de traitement des réclamations", "jours", M, DOWN, (10.0, 15.0, Some(20.0)), 1, (RED, ORANGE), false),
    k("QUA-ISO", "Score d'audit de certification ISO 9001", "%", Y, UP, (95.0, 90.0, Some(80.0)), 0, (ORANGE, GREEN), false),
];

#[rustfmt::skip]
const RH: &[KpiSpec] = &[
    k("RH-ABS", "Taux d'absentéisme", "%", M, DOWN, (3.0, 4.5, Some(6.0)), 2, (GREEN, RED), false),
    k("RH-TRN", "Taux de rotation du personnel (turnover)", "%", Q, DOWN, (8.0, 12.0, Some(15.0)), 1, (ORANGE, RED), false),
    k("RH-FOR", "Heures de formation par salarié", "h", Q, UP, (10.0, 7.0, Some(4.0)), 1, (RED, GREEN), false),
    k("RH-TF", "Taux de fréquence des accidents du travail", "TF", M, DOWN, (5.0, 10.0, Some(15.0)), 1, (ORANGE, GREEN), false),
    k("RH-PP", "Taux de postes pourvus", "%", M, UP, (98.0, 95.0, Some(90.0)), 1, (GREEN, ORANGE), true),
    k("RH-ENG", "Engagement des collaborateurs (baromètre)", "%", Y, UP, (75.0, 65.0, Some(55.0)), 0, (ORANGE, ORANGE), false),
    k("RH-EAE", "Entretiens annuels réalisés", "%", Y, UP, (100.0, 90.0, Some(80.0)), 0, (RED, GREEN), true),
    k("RH-REC", "Délai moyen de recrutement", "jours", Q, DOWN, (45.0, 60.0, Some(90.0)), 0, (RED, ORANGE), false),
];

/// The KPIs leadership follows first (the direction report's strategic list).
const STRATEGIC: &[&str] = &["PRD-TRS", "LOG-OTD", "QUA-PPM", "RH-TF", "MNT-DISP"];

const DASHBOARDS: &[DashboardSpec] = &[
    DashboardSpec {
        title: "Pilotage de la production",
        process: "Production",
        description: "Performance des lignes de l'usine de Lyon : rendement, volumes, rebuts, coûts.",
        team: Some(0),
        owner: 1,
        kpis: PRODUCTION,
    },
    DashboardSpec {
        title: "Maintenance industrielle",
        process: "Production",
        description: "Fiabilité et disponibilité des équipements, maintenance préventive.",
        team: Some(0),
        owner: 1,
        kpis: MAINTENANCE,
    },
    DashboardSpec {
        title: "Logistique et supply chain",
        process: "Logistique",
        description: "Service client, stocks et transport des deux entrepôts.",
        team: Some(1),
        owner: 2,
        kpis: LOGISTIQUE,
    },
    DashboardSpec {
        title: "Qualité et satisfaction client",
        process: "Qualité",
        description: "Non-conformités, réclamations et satisfaction, partagé avec toute l'entreprise.",
        team: None,
        owner: 3,
        kpis: QUALITE,
    },
    DashboardSpec {
        title: "Ressources humaines",
        process: "RH",
        description: "Absentéisme, sécurité, formation et recrutement.",
        team: None,
        owner: 4,
        kpis: RH,
    },
];

/// A KPI kept for history but no longer followed.
#[rustfmt::skip]
const RETIRED: KpiSpec =
    k("PRD-RET", "Taux de retouche (ancien calcul)", "%", M, DOWN, (1.5, 3.0, None), 2, (ORANGE, RED), false);

/// (KPI code, title, status, due in days from today, owner (index in USERS), progress, closed days ago)
type ActionSpec = (
    &'static str,
    &'static str,
    ActionStatus,
    i64,
    usize,
    i32,
    Option<u64>,
);

#[rustfmt::skip]
const ACTIONS: &[ActionSpec] = &[
    ("PRD-TRS", "Plan de réduction des micro-arrêts de la ligne 2", ActionStatus::Open, -12, 1, 20, None),
    ("LOG-OTD", "Revoir le planning des tournées de livraison", ActionStatus::InProgress, -3, 2, 60, None),
    ("RH-TRN", "Plan de fidélisation des techniciens", ActionStatus::InProgress, -40, 4, 35, None),
    ("QUA-PPM", "Analyse 8D des retours client du lot 2611", ActionStatus::InProgress, 1, 3, 40, None),
    ("LOG-LIT", "Audit qualité du transporteur régional", ActionStatus::Open, 0, 2, 0, None),
    ("MNT-MTTR", "Constituer un stock de pièces critiques", ActionStatus::Open, 5, 1, 10, None),
    ("RH-ABS", "Entretiens de retour après absence", ActionStatus::Open, 20, 4, 10, None),
    ("QUA-CNQ", "Chiffrer le coût des retouches par ligne", ActionStatus::Open, 30, 3, 0, None),
    ("LOG-STK", "Réduire les stocks dormants de plus de 12 mois", ActionStatus::Done, -2, 2, 100, Some(0)),
    ("QUA-REC", "Former l'équipe SAV au traitement des réclamations", ActionStatus::Done, 3, 3, 100, Some(0)),
    ("PRD-REB", "Changer les réglages de la presse 3", ActionStatus::Cancelled, 10, 1, 30, Some(0)),
    ("PRD-ENE", "Renégocier le contrat de fourniture d'énergie", ActionStatus::Done, -30, 1, 100, Some(25)),
];

/// (KPI code, author (index in USERS), text, on the action of that title)
#[rustfmt::skip]
const COMMENTS: &[(&str, usize, &str, Option<&str>)] = &[
    ("PRD-TRS", 1, "Arrêt de la presse 3 pendant deux jours la semaine dernière : impact direct sur le TRS.", None),
    ("PRD-TRS", 0, "Merci de présenter le plan d'action au prochain comité de direction.", None),
    ("LOG-OTD", 2, "Retards liés au mouvement social chez le transporteur principal.", None),
    ("LOG-OTD", 2, "Nouveau planning testé sur la zone Sud, premiers résultats encourageants.", Some("Revoir le planning des tournées de livraison")),
    ("QUA-PPM", 3, "Lot fournisseur non conforme identifié, réclamation ouverte auprès du fournisseur.", None),
    ("QUA-PPM", 3, "Réunion 8D planifiée jeudi avec le fournisseur.", Some("Analyse 8D des retours client du lot 2611")),
    ("RH-ABS", 4, "Pic saisonnier habituel (épidémie de grippe), à surveiller le mois prochain.", None),
    ("LOG-STK", 0, "Bravo à l'équipe entrepôt pour la réduction des stocks dormants.", None),
];

/// Processes cycled over by the benchmark dashboards.
const PROCESSES: &[&str] = &[
    "Production",
    "Logistique",
    "Qualité",
    "RH",
    "Maintenance",
    "Achats",
    "Finance",
    "Commercial",
];

// ---------------------------------------------------------------------------
// randomness and values

/// SplitMix64: small, seedable, good enough for demo data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal, mean 0, deviation 1 (sum of uniforms).
    fn gauss(&mut self) -> f64 {
        (0..6).map(|_| self.unit()).sum::<f64>() - 3.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A value of `spec` at `level`, in the middle of its band.
fn level_value(spec: &KpiSpec, level: Level) -> f64 {
    let sign = if spec.direction == UP { 1.0 } else { -1.0 };
    let band = (spec.green - spec.orange)
        .abs()
        .max(spec.green.abs() * 0.05)
        .max(0.5);
    let red_band = spec
        .red
        .map_or(band, |red| (spec.orange - red).abs().max(band * 0.2));
    match level {
        Level::Green => spec.green + sign * band * 0.4,
        Level::Orange => (spec.green + spec.orange) / 2.0,
        Level::Red => spec.orange - sign * red_band * 0.4,
        Level::Critical => {
            spec.red.unwrap_or(spec.orange - sign * red_band) - sign * red_band * 0.3
        }
    }
}

fn periods_per_year(frequency: Frequency) -> f64 {
    match frequency {
        Frequency::Daily => 365.0,
        Frequency::Weekly => 52.0,
        Frequency::Monthly => 12.0,
        Frequency::Quarterly => 4.0,
        Frequency::Yearly => 1.0,
    }
}

/// `count` values going from the `from` level to the `to` level with a
/// seasonal wave and noise; the last one lands on the `to` level exactly.
fn series(spec: &KpiSpec, from: Level, to: Level, count: usize, rng: &mut Rng) -> Vec<Decimal> {
    let (start, end) = (level_value(spec, from), level_value(spec, to));
    let band = (spec.green - spec.orange).abs().max(0.5);
    let phase = rng.unit() * std::f64::consts::TAU;
    let per_year = periods_per_year(spec.frequency);
    (0..count)
        .map(|i| {
            let progress = if count > 1 {
                i as f64 / (count - 1) as f64
            } else {
                1.0
            };
            let mut x = start + (end - start) * progress.powf(1.4);
            if i + 1 < count {
                x += band * 0.25 * (std::f64::consts::TAU * i as f64 / per_year + phase).sin();
                x += band * 0.3 * rng.gauss();
            }
            if spec.unit == "%" {
                x = x.clamp(0.0, 100.0);
            } else if spec.green >= 0.0 && spec.orange >= 0.0 {
                x = x.max(0.0);
            }
            decimal(x, spec.decimals)
        })
        .collect()
}

fn decimal(x: f64, decimals: u32) -> Decimal {
    let scaled = (x * 10f64.powi(decimals as i32)).round() as i64;
    Decimal::new(scaled, decimals)
}

fn threshold(x: f64) -> Decimal {
    decimal(x, 2).normalize()
}

/// The `count` periods of `frequency` that end with the last completed one.
fn last_periods(frequency: Frequency, today: NaiveDate, count: usize) -> Vec<Period> {
    let mut periods = Vec::with_capacity(count);
    let mut period = frequency.last_completed_period(today);
    for _ in 0..count {
        periods.push(period);
        let previous = frequency.previous(period);
        if previous == period {
            break;
        }
        period = previous;
    }
    periods.reverse();
    periods
}

/// The periods of the last two years, up to the last completed one.
fn two_years(frequency: Frequency, today: NaiveDate) -> Vec<Period> {
    let since = today.checked_sub_days(Days::new(730)).unwrap_or(today);
    let mut periods = last_periods(frequency, today, 800);
    periods.retain(|p| p.end >= since);
    periods
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.to_lowercase().chars() {
        let c = match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

// ---------------------------------------------------------------------------
// writing

struct Created {
    org_id: OrganizationId,
    users: Vec<UserId>,
    teams: Vec<TeamId>,
    emails: Vec<String>,
    dashboards: usize,
    kpis: usize,
    values: u64,
    actions: usize,
    comments: usize,
}

/// A KPI to insert from a catalogue entry.
struct NewKpi<'a> {
    dashboard_id: DashboardId,
    owner_id: UserId,
    spec: &'a KpiSpec,
    code: String,
    name: String,
    is_active: bool,
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    db::migrate(&args.database_url).await?;
    // as the owner of the schema: the demo writes many organizations at once,
    // out of row-level security's reach (the API and the worker are not)
    let pool = db::connect_as_owner(&args.database_url, 4).await?;
    let domain = format!("{}.example", slug(&args.organization_name));
    let admin_email = format!("{}@{domain}", USERS[0].0);
    let mut conn = pool.acquire().await?;
    if db::users::find_for_login(&mut conn, &admin_email)
        .await?
        .is_some()
    {
        anyhow::bail!(
            "{admin_email} already exists: this database already holds the organization \
             \"{}\"; pick another --organization-name or a fresh database",
            args.organization_name
        );
    }
    drop(conn);

    let mut rng = Rng(args.seed);
    let today = Utc::now().date_naive();
    let mut tx = pool.begin().await?;
    let mut created = people(&mut tx, args, &domain).await?;
    match args.kpis {
        None => realistic(&mut tx, &mut created, today, &mut rng).await?,
        Some(n) => {
            bulk(
                &mut tx,
                &mut created,
                n,
                args.values_per_kpi,
                today,
                &mut rng,
            )
            .await?
        }
    }
    tx.commit().await?;
    if args.kpis.is_some() {
        // fresh statistics and visibility map for the benchmark's plans
        sqlx::raw_sql(
            "vacuum (analyze) kpi_value, kpi_latest, kpi, dashboard, action_plan, team_member",
        )
        .execute(&pool)
        .await?;
    }

    println!(
        "Organization \"{}\" ({}): {} dashboards, {} KPIs, {} values, {} actions, {} comments, in {:.1} s.",
        args.organization_name,
        created.org_id,
        created.dashboards,
        created.kpis,
        created.values,
        created.actions,
        created.comments,
        started.elapsed().as_secs_f64()
    );
    println!("Logins (password: {}):", args.password);
    for ((_, name, role, teams), email) in USERS.iter().zip(&created.emails) {
        let teams: Vec<&str> = teams.iter().map(|t| TEAMS[*t]).collect();
        let teams = if teams.is_empty() {
            String::new()
        } else {
            format!(", team {}", teams.join(" + "))
        };
        println!("  {email:<40} {:<6} {name}{teams}", role.as_str());
    }
    Ok(())
}

async fn people(conn: &mut PgConnection, args: &Args, domain: &str) -> anyhow::Result<Created> {
    let org =
        db::organizations::insert(conn, OrganizationId::new(), &args.organization_name).await?;
    let password = args.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
    let mut users = Vec::new();
    let mut emails = Vec::new();
    for (local, full_name, role, _) in USERS {
        let email = format!("{local}@{domain}");
        let user = db::users::insert(
            conn,
            NewUser {
                organization_id: org.id,
                email: &email,
                full_name,
                password_hash: &hash,
                role: *role,
            },
        )
        .await?;
        users.push(user.id);
        emails.push(email);
    }
    let mut teams = Vec::new();
    for (index, name) in TEAMS.iter().enumerate() {
        let team = db::teams::insert(conn, org.id, name).await?;
        for (user, (_, _, _, member_of)) in users.iter().zip(USERS) {
            if member_of.contains(&index) {
                db::teams::add_member(conn, org.id, team.id, *user).await?;
            }
        }
        teams.push(team.id);
    }
    Ok(Created {
        org_id: org.id,
        users,
        teams,
        emails,
        dashboards: 0,
        kpis: 0,
        values: 0,
        actions: 0,
        comments: 0,
    })
}

async fn insert_kpi(
    conn: &mut PgConnection,
    created: &mut Created,
    new: NewKpi<'_>,
) -> anyhow::Result<(KpiId, Thresholds)> {
    let spec = new.spec;
    let thresholds = Thresholds {
        green: threshold(spec.green),
        orange: threshold(spec.orange),
        red: spec.red.map(threshold),
    };
    thresholds.validate(spec.direction)?;
    let fields = KpiFields {
        owner_id: new.owner_id,
        code: Some(new.code),
        name: new.name,
        description: None,
        unit: Some(spec.unit.to_owned()),
        frequency: spec.frequency,
        direction: spec.direction,
        thresholds,
        is_active: new.is_active,
        is_strategic: STRATEGIC.contains(&spec.code),
    };
    let id = db::kpis::insert(conn, created.org_id, new.dashboard_id, &fields).await?;
    created.kpis += 1;
    Ok((id, thresholds))
}

/// Writes values in batches of [`BATCH`] through the import's upsert.
async fn flush(
    conn: &mut PgConnection,
    created: &mut Created,
    pending: &mut Vec<ValueWrite>,
    at_least: usize,
) -> anyhow::Result<()> {
    if pending.len() >= at_least && !pending.is_empty() {
        let counts = db::kpi_values::upsert_batch(
            conn,
            created.org_id,
            Some(created.users[0]),
            None,
            pending,
        )
        .await?;
        created.values += counts.inserted + counts.updated;
        pending.clear();
    }
    Ok(())
}

fn catalogue() -> Vec<(usize, &'static KpiSpec)> {
    DASHBOARDS
        .iter()
        .enumerate()
        .flat_map(|(d, dashboard)| dashboard.kpis.iter().map(move |spec| (d, spec)))
        .collect()
}

async fn realistic(
    conn: &mut PgConnection,
    created: &mut Created,
    today: NaiveDate,
    rng: &mut Rng,
) -> anyhow::Result<()> {
    let mut written: Vec<(&str, KpiId)> = Vec::new();
    let mut pending = Vec::new();
    for (d, dashboard) in DASHBOARDS.iter().enumerate() {
        let owner = created.users[dashboard.owner];
        let dashboard_id = db::dashboards::insert(
            conn,
            NewDashboard {
                organization_id: created.org_id,
                owner_id: owner,
                team_id: dashboard.team.map(|t| created.teams[t]),
                title: dashboard.title,
                description: Some(dashboard.description),
                process_name: Some(dashboard.process),
            },
        )
        .await?;
        created.dashboards += 1;
        let mut specs: Vec<(&KpiSpec, bool)> = dashboard.kpis.iter().map(|s| (s, true)).collect();
        if d == 0 {
            specs.push((&RETIRED, false));
        }
        for (spec, active) in specs {
            let (id, thresholds) = insert_kpi(
                conn,
                created,
                NewKpi {
                    dashboard_id,
                    owner_id: owner,
                    spec,
                    code: spec.code.to_owned(),
                    name: spec.name.to_owned(),
                    is_active: active,
                },
            )
            .await?;
            let mut periods = two_years(spec.frequency, today);
            if !active {
                // retired a year ago
                periods.truncate(periods.len().saturating_sub(periods.len() / 2));
            }
            let values = series(spec, spec.from, spec.to, periods.len(), rng);
            let skip_last = spec.late && periods.len() > 1;
            for (i, (period, value)) in periods.iter().zip(values).enumerate() {
                if skip_last && i + 1 == periods.len() {
                    continue;
                }
                pending.push(ValueWrite {
                    kpi_id: id,
                    period: *period,
                    value,
                    comment: None,
                    direction: spec.direction,
                    thresholds,
                    import_row: None,
                });
            }
            flush(conn, created, &mut pending, BATCH).await?;
            written.push((spec.code, id));
        }
    }
    flush(conn, created, &mut pending, 1).await?;

    let kpi = |code: &str| written.iter().find(|(c, _)| *c == code).map(|(_, id)| *id);
    let mut action_ids = Vec::new();
    for (code, title, status, due_in, owner, progress, closed_days_ago) in ACTIONS {
        let Some(kpi_id) = kpi(code) else { continue };
        let id = insert_action(
            conn,
            created,
            kpi_id,
            ActionFields {
                title: (*title).to_owned(),
                description: None,
                owner_id: Some(created.users[*owner]),
                due_date: today.checked_add_signed(chrono::Duration::days(*due_in)),
                progress: *progress,
                status: *status,
            },
            *closed_days_ago,
            45,
        )
        .await?;
        action_ids.push((*title, id));
    }
    for (code, author, content, action) in COMMENTS {
        let Some(kpi_id) = kpi(code) else { continue };
        let action_plan_id = action.and_then(|t| {
            action_ids
                .iter()
                .find(|(title, _)| *title == t)
                .map(|(_, id)| *id)
        });
        db::comments::insert(
            conn,
            NewComment {
                organization_id: created.org_id,
                kpi_id,
                action_plan_id,
                author_id: created.users[*author],
                content,
            },
        )
        .await?;
        created.comments += 1;
    }
    Ok(())
}

/// Inserts an action; a closed one is back-dated `closed_days_ago`, and the
/// creation `created_days_ago`, so the history looks lived-in.
async fn insert_action(
    conn: &mut PgConnection,
    created: &mut Created,
    kpi_id: KpiId,
    fields: ActionFields,
    closed_days_ago: Option<u64>,
    created_days_ago: u64,
) -> anyhow::Result<ActionId> {
    let action = db::action_plans::insert(
        conn,
        NewAction {
            organization_id: created.org_id,
            kpi_id,
            created_by: created.users[0],
            fields: &fields,
        },
    )
    .await?;
    let closed_days = closed_days_ago.unwrap_or(0).min(created_days_ago);
    sqlx::query!(
        "update action_plan set created_at = now() - make_interval(days => $2), \
         closed_at = case when closed_at is not null then now() - make_interval(days => $3) end, \
         updated_at = case when closed_at is not null then now() - make_interval(days => $3) \
           else now() - make_interval(days => $2 / 3) end \
         where id = $1",
        action.id as ActionId,
        created_days_ago as i32,
        closed_days as i32,
    )
    .execute(&mut *conn)
    .await?;
    created.actions += 1;
    Ok(action.id)
}

fn random_level(rng: &mut Rng) -> Level {
    match rng.below(100) {
        0..55 => Level::Green,
        55..80 => Level::Orange,
        80..95 => Level::Red,
        _ => Level::Critical,
    }
}

async fn bulk(
    conn: &mut PgConnection,
    created: &mut Created,
    kpis: usize,
    values_per_kpi: usize,
    today: NaiveDate,
    rng: &mut Rng,
) -> anyhow::Result<()> {
    const PER_DASHBOARD: usize = 20;
    let all = catalogue();
    let dashboards = kpis.div_ceil(PER_DASHBOARD);
    let mut pending = Vec::with_capacity(BATCH + values_per_kpi);
    let mut written = 0usize;
    let mut red_kpis: Vec<KpiId> = Vec::new();
    let mut last_report = Instant::now();
    for d in 0..dashboards {
        let process = PROCESSES[d % PROCESSES.len()];
        let team = match d % 3 {
            0 => Some(0),
            1 => Some(1),
            _ => None,
        };
        let owner = created.users[1 + d % (USERS.len() - 1)];
        let title = format!("{process} — périmètre {:04}", d + 1);
        let dashboard_id = db::dashboards::insert(
            conn,
            NewDashboard {
                organization_id: created.org_id,
                owner_id: owner,
                team_id: team.map(|t| created.teams[t]),
                title: &title,
                description: None,
                process_name: Some(process),
            },
        )
        .await?;
        created.dashboards += 1;
        for _ in 0..PER_DASHBOARD.min(kpis - written) {
            let (_, spec) = all[written % all.len()];
            let active = rng.below(100) >= 2;
            let (id, thresholds) = insert_kpi(
                conn,
                created,
                NewKpi {
                    dashboard_id,
                    owner_id: owner,
                    spec,
                    code: format!("{}-{:06}", spec.code, written + 1),
                    name: format!("{} — {:05}", spec.name, written + 1),
                    is_active: active,
                },
            )
            .await?;
            written += 1;
            let (from, to) = (random_level(rng), random_level(rng));
            if matches!(to, Level::Red | Level::Critical) && active {
                red_kpis.push(id);
            }
            let periods = last_periods(spec.frequency, today, values_per_kpi);
            let values = series(spec, from, to, periods.len(), rng);
            let late = rng.below(100) < 4;
            for (i, (period, value)) in periods.iter().zip(values).enumerate() {
                if late && i + 1 == periods.len() && periods.len() > 1 {
                    continue;
                }
                pending.push(ValueWrite {
                    kpi_id: id,
                    period: *period,
                    value,
                    comment: None,
                    direction: spec.direction,
                    thresholds,
                    import_row: None,
                });
            }
            flush(conn, created, &mut pending, BATCH).await?;
            if last_report.elapsed().as_secs() >= 5 {
                eprintln!(
                    "kpix-demo: {written}/{kpis} KPIs, {} values",
                    created.values
                );
                last_report = Instant::now();
            }
        }
    }
    flush(conn, created, &mut pending, 1).await?;

    // actions on about half of the red KPIs, and on a few others
    for (i, kpi_id) in red_kpis.iter().enumerate() {
        if i % 2 == 1 {
            continue;
        }
        let status = match rng.below(10) {
            0..4 => ActionStatus::Open,
            4..7 => ActionStatus::InProgress,
            7..9 => ActionStatus::Done,
            _ => ActionStatus::Cancelled,
        };
        let due_in = rng.below(61) as i64 - 30;
        let closed = status.is_closed().then(|| rng.below(21));
        insert_action(
            conn,
            created,
            *kpi_id,
            ActionFields {
                title: format!("Plan d'action n°{}", i + 1),
                description: Some("Analyse des causes et actions correctives.".to_owned()),
                owner_id: Some(created.users[1 + i % (USERS.len() - 1)]),
                due_date: today.checked_add_signed(chrono::Duration::days(due_in)),
                progress: if status == ActionStatus::Done {
                    100
                } else {
                    rng.below(90) as i32
                },
                status,
            },
            closed,
            30 + rng.below(60),
        )
        .await?;
        if i % 10 == 0 {
            db::comments::insert(
                conn,
                NewComment {
                    organization_id: created.org_id,
                    kpi_id: *kpi_id,
                    action_plan_id: None,
                    author_id: created.users[0],
                    content: "Point à aborder au prochain comité de pilotage.",
                },
            )
            .await?;
            created.comments += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<Args>, String> {
        parse_args(
            ["--database-url", "postgres://x/y"]
                .iter()
                .chain(list)
                .map(|s| (*s).to_owned()),
        )
    }

    #[test]
    fn arguments_parse() {
        let a = args(&[
            "--kpis",
            "10000",
            "--values-per-kpi=100",
            "--organization-name",
            "Bench Co",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (a.kpis, a.values_per_kpi, a.organization_name.as_str()),
            (Some(10000), 100, "Bench Co")
        );
        assert!(args(&["--kpis", "many"]).is_err());
        assert!(args(&["--kpis"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        assert!(args(&["--password", "short"]).is_err());
        assert!(args(&["--help"]).unwrap().is_none());
        let sql = parse_args(["--report-sql".to_owned(), "missing".to_owned()].into_iter());
        assert_eq!(sql.unwrap().unwrap().report_sql.as_deref(), Some("missing"));
    }

    #[test]
    fn report_sql_uses_pgbench_variables() {
        for name in ["overview", "top-risks", "direction", "missing"] {
            let sql = report_sql(name).unwrap();
            assert!(!sql.contains('$'), "{name}: {sql}");
            assert!(
                sql.contains(":organization_id") && sql.contains(":is_admin"),
                "{name}"
            );
            assert!(sql.contains("null::text is null"), "{name}");
        }
        assert!(
            report_sql("direction")
                .unwrap()
                .contains(":week_start::timestamptz")
        );
        assert!(report_sql("nope").is_none());
    }

    #[test]
    fn slugs_fold_french_accents() {
        assert_eq!(slug("Démo Industrie"), "demo-industrie");
        assert_eq!(
            slug("  Société Générale d'Électricité! "),
            "societe-generale-d-electricite"
        );
    }

    #[test]
    fn the_catalogue_is_valid_and_lands_on_its_levels() {
        let all = catalogue();
        assert!((38..=45).contains(&all.len()), "{} KPIs", all.len());
        let mut codes: Vec<&str> = all.iter().map(|(_, s)| s.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len(), "codes are unique");
        for f in Frequency::ALL {
            assert!(all.iter().any(|(_, s)| s.frequency == *f), "{f} is used");
        }
        let mut rng = Rng(7);
        for (_, spec) in all.iter().chain([&(0, &RETIRED)]) {
            let thresholds = Thresholds {
                green: threshold(spec.green),
                orange: threshold(spec.orange),
                red: spec.red.map(threshold),
            };
            assert!(thresholds.validate(spec.direction).is_ok(), "{}", spec.code);
            let values = series(spec, spec.from, spec.to, 12, &mut rng);
            let last =
                kpix_shared::domain::assess(*values.last().unwrap(), spec.direction, &thresholds);
            let expected = match spec.to {
                Level::Green => (kpix_shared::domain::Status::Green, false),
                Level::Orange => (kpix_shared::domain::Status::Orange, false),
                Level::Red => (kpix_shared::domain::Status::Red, false),
                Level::Critical => (kpix_shared::domain::Status::Red, spec.red.is_some()),
            };
            assert_eq!((last.status, last.critical), expected, "{}", spec.code);
        }
    }

    #[test]
    fn periods_end_with_the_last_completed_one() {
        let today: NaiveDate = "2026-11-25".parse().unwrap();
        let months = last_periods(Frequency::Monthly, today, 3);
        assert_eq!(
            months
                .iter()
                .map(|p| p.start.to_string())
                .collect::<Vec<_>>(),
            ["2026-08-01", "2026-09-01", "2026-10-01"]
        );
        assert_eq!(two_years(Frequency::Yearly, today).len(), 2);
        assert_eq!(two_years(Frequency::Quarterly, today).len(), 8);
        let days = two_years(Frequency::Daily, today);
        assert_eq!(days.last().unwrap().start.to_string(), "2026-11-24");
    }
}
