<?xml version='1.0' encoding='utf-8'?>
<!-- https://assets.cms.plateau.reearth.io/assets/b0/cf0c83-7df3-40c4-a95d-7cc66a801cc6/22100_shizuoka-shi_city_2023_citygml_1_op/udx/bldg/52382287_bldg_6697_psc_op.gml -->
<core:CityModel xmlns:bldg="http://www.opengis.net/citygml/building/2.0" xmlns:core="http://www.opengis.net/citygml/2.0" xmlns:gen="http://www.opengis.net/citygml/generics/2.0" xmlns:gml="http://www.opengis.net/gml" xmlns:uro="https://www.geospatial.jp/iur/uro/3.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="https://www.geospatial.jp/iur/uro/3.0 ../../schemas/iur/uro/3.0/urbanObject.xsd https://www.geospatial.jp/iur/urf/3.0 ../../schemas/iur/urf/3.0/urbanFunction.xsd http://www.opengis.net/citygml/2.0 http://schemas.opengis.net/citygml/2.0/cityGMLBase.xsd http://www.opengis.net/citygml/landuse/2.0 http://schemas.opengis.net/citygml/landuse/2.0/landUse.xsd http://www.opengis.net/citygml/building/2.0 http://schemas.opengis.net/citygml/building/2.0/building.xsd http://www.opengis.net/citygml/transportation/2.0 http://schemas.opengis.net/citygml/transportation/2.0/transportation.xsd http://www.opengis.net/citygml/generics/2.0 http://schemas.opengis.net/citygml/generics/2.0/generics.xsd http://www.opengis.net/citygml/relief/2.0 http://schemas.opengis.net/citygml/relief/2.0/relief.xsd http://www.opengis.net/citygml/cityobjectgroup/2.0 http://schemas.opengis.net/citygml/cityobjectgroup/2.0/cityObjectGroup.xsd http://www.opengis.net/gml http://schemas.opengis.net/gml/3.1.1/base/gml.xsd http://www.opengis.net/citygml/appearance/2.0 http://schemas.opengis.net/citygml/appearance/2.0/appearance.xsd">
	<gml:boundedBy>
		<gml:Envelope srsDimension="3" srsName="http://www.opengis.net/def/crs/EPSG/0/6697">
			<gml:lowerCorner>34.90089783871241 138.34722951544651 0</gml:lowerCorner>
			<gml:upperCorner>34.90286222767453 138.34960968015335 72.86005999999999</gml:upperCorner>
		</gml:Envelope>
	</gml:boundedBy>
	<core:cityObjectMember>
		<bldg:Building gml:id="bldg_53e2a9a9-d512-408f-8250-eae30b7523d6">
			<gen:stringAttribute name="風致地区">
				<gen:value>第1種風致地区（大崩）</gen:value>
			</gen:stringAttribute>
			<bldg:measuredHeight uom="m">14.3</bldg:measuredHeight>
			<bldg:lod0RoofEdge>
				<gml:MultiSurface srsDimension="3" srsName="http://www.opengis.net/def/crs/EPSG/0/6697">
					<gml:surfaceMember>
						<gml:Polygon>
							<gml:exterior>
								<gml:LinearRing>
									<gml:posList>34.90273381467034 138.34934122825845 0 34.90269767870549 138.34941045064227 0 34.90282610066923 138.34950922380963 0 34.90286222767453 138.34944000137736 0 34.90273381467034 138.34934122825845 0</gml:posList>
								</gml:LinearRing>
							</gml:exterior>
						</gml:Polygon>
					</gml:surfaceMember>
				</gml:MultiSurface>
			</bldg:lod0RoofEdge>
			<bldg:lod1Solid>
				<gml:Solid srsDimension="3" srsName="http://www.opengis.net/def/crs/EPSG/0/6697">
					<gml:exterior>
						<gml:CompositeSurface>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90273381467034 138.34934122825845 41.50933 34.90286222767453 138.34944000137736 41.50933 34.90282610066923 138.34950922380963 41.50933 34.90269767870549 138.34941045064227 41.50933 34.90273381467034 138.34934122825845 41.50933</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90273381467034 138.34934122825845 41.50933 34.90269767870549 138.34941045064227 41.50933 34.90269767870549 138.34941045064227 54.99001 34.90273381467034 138.34934122825845 54.99001 34.90273381467034 138.34934122825845 41.50933</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90269767870549 138.34941045064227 41.50933 34.90282610066923 138.34950922380963 41.50933 34.90282610066923 138.34950922380963 54.99001 34.90269767870549 138.34941045064227 54.99001 34.90269767870549 138.34941045064227 41.50933</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90282610066923 138.34950922380963 41.50933 34.90286222767453 138.34944000137736 41.50933 34.90286222767453 138.34944000137736 54.99001 34.90282610066923 138.34950922380963 54.99001 34.90282610066923 138.34950922380963 41.50933</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90286222767453 138.34944000137736 41.50933 34.90273381467034 138.34934122825845 41.50933 34.90273381467034 138.34934122825845 54.99001 34.90286222767453 138.34944000137736 54.99001 34.90286222767453 138.34944000137736 41.50933</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90273381467034 138.34934122825845 54.99001 34.90269767870549 138.34941045064227 54.99001 34.90282610066923 138.34950922380963 54.99001 34.90286222767453 138.34944000137736 54.99001 34.90273381467034 138.34934122825845 54.99001</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
						</gml:CompositeSurface>
					</gml:exterior>
				</gml:Solid>
			</bldg:lod1Solid>
			<uro:buildingDataQualityAttribute>
				<uro:BuildingDataQualityAttribute>
					<uro:srcScale codeSpace="../../codelists/BuildingDataQualityAttribute_srcScale.xml">1</uro:srcScale>
					<uro:lod1HeightType codeSpace="../../codelists/BuildingDataQualityAttribute_lod1HeightType.xml">2</uro:lod1HeightType>
				</uro:BuildingDataQualityAttribute>
			</uro:buildingDataQualityAttribute>
			<uro:buildingDetailAttribute>
				<uro:BuildingDetailAttribute>
					<uro:urbanPlanType codeSpace="../../codelists/Common_urbanPlanType.xml">21</uro:urbanPlanType>
					<uro:surveyYear>2021</uro:surveyYear>
				</uro:BuildingDetailAttribute>
			</uro:buildingDetailAttribute>
			<uro:buildingDisasterRiskAttribute><uro:BuildingLandSlideRiskAttribute><uro:description codeSpace="../../codelists/LandSlideRiskAttribute_description.xml">1</uro:description><uro:areaType codeSpace="../../codelists/LandSlideRiskAttribute_areaType.xml">2</uro:areaType></uro:BuildingLandSlideRiskAttribute></uro:buildingDisasterRiskAttribute><uro:buildingIDAttribute>
				<uro:BuildingIDAttribute>
					<uro:buildingID>22102-bldg-354359</uro:buildingID>
					<uro:prefecture codeSpace="../../codelists/Common_localPublicAuthorities.xml">22</uro:prefecture>
					<uro:city codeSpace="../../codelists/Common_localPublicAuthorities.xml">22102</uro:city>
				</uro:BuildingIDAttribute>
			</uro:buildingIDAttribute>
		</bldg:Building>
	</core:cityObjectMember>
	<core:cityObjectMember>
		<bldg:Building gml:id="bldg_c77c3e2b-ffdc-4b1a-91bf-185a1b46a4d1">
			<gen:stringAttribute name="風致地区">
				<gen:value>第1種風致地区（大崩）</gen:value>
			</gen:stringAttribute>
			<bldg:measuredHeight uom="m">9.5</bldg:measuredHeight>
			<bldg:lod0RoofEdge>
				<gml:MultiSurface srsDimension="3" srsName="http://www.opengis.net/def/crs/EPSG/0/6697">
					<gml:surfaceMember>
						<gml:Polygon>
							<gml:exterior>
								<gml:LinearRing>
									<gml:posList>34.90093848157384 138.34722951544651 0 34.90089783871241 138.34726951889533 0 34.90091585727112 138.34729649096207 0 34.90095650015509 138.34725649845996 0 34.90093848157384 138.34722951544651 0</gml:posList>
								</gml:LinearRing>
							</gml:exterior>
						</gml:Polygon>
					</gml:surfaceMember>
				</gml:MultiSurface>
			</bldg:lod0RoofEdge>
			<bldg:lod1Solid>
				<gml:Solid srsDimension="3" srsName="http://www.opengis.net/def/crs/EPSG/0/6697">
					<gml:exterior>
						<gml:CompositeSurface>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90093848157384 138.34722951544651 69.29653 34.90095650015509 138.34725649845996 69.29653 34.90091585727112 138.34729649096207 69.29653 34.90089783871241 138.34726951889533 69.29653 34.90093848157384 138.34722951544651 69.29653</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90093848157384 138.34722951544651 69.29653 34.90089783871241 138.34726951889533 69.29653 34.90089783871241 138.34726951889533 72.29998 34.90093848157384 138.34722951544651 72.29998 34.90093848157384 138.34722951544651 69.29653</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90089783871241 138.34726951889533 69.29653 34.90091585727112 138.34729649096207 69.29653 34.90091585727112 138.34729649096207 72.29998 34.90089783871241 138.34726951889533 72.29998 34.90089783871241 138.34726951889533 69.29653</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90091585727112 138.34729649096207 69.29653 34.90095650015509 138.34725649845996 69.29653 34.90095650015509 138.34725649845996 72.29998 34.90091585727112 138.34729649096207 72.29998 34.90091585727112 138.34729649096207 69.29653</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90095650015509 138.34725649845996 69.29653 34.90093848157384 138.34722951544651 69.29653 34.90093848157384 138.34722951544651 72.29998 34.90095650015509 138.34725649845996 72.29998 34.90095650015509 138.34725649845996 69.29653</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90093848157384 138.34722951544651 72.29998 34.90089783871241 138.34726951889533 72.29998 34.90091585727112 138.34729649096207 72.29998 34.90095650015509 138.34725649845996 72.29998 34.90093848157384 138.34722951544651 72.29998</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
						</gml:CompositeSurface>
					</gml:exterior>
				</gml:Solid>
			</bldg:lod1Solid>
			<uro:buildingDataQualityAttribute>
				<uro:BuildingDataQualityAttribute>
					<uro:srcScale codeSpace="../../codelists/BuildingDataQualityAttribute_srcScale.xml">1</uro:srcScale>
					<uro:lod1HeightType codeSpace="../../codelists/BuildingDataQualityAttribute_lod1HeightType.xml">2</uro:lod1HeightType>
				</uro:BuildingDataQualityAttribute>
			</uro:buildingDataQualityAttribute>
			<uro:buildingDetailAttribute>
				<uro:BuildingDetailAttribute>
					<uro:urbanPlanType codeSpace="../../codelists/Common_urbanPlanType.xml">21</uro:urbanPlanType>
					<uro:surveyYear>2021</uro:surveyYear>
				</uro:BuildingDetailAttribute>
			</uro:buildingDetailAttribute>
			<uro:buildingDisasterRiskAttribute><uro:BuildingLandSlideRiskAttribute><uro:description codeSpace="../../codelists/LandSlideRiskAttribute_description.xml">1</uro:description><uro:areaType codeSpace="../../codelists/LandSlideRiskAttribute_areaType.xml">1</uro:areaType></uro:BuildingLandSlideRiskAttribute></uro:buildingDisasterRiskAttribute><uro:buildingIDAttribute>
				<uro:BuildingIDAttribute>
					<uro:buildingID>22102-bldg-354362</uro:buildingID>
					<uro:prefecture codeSpace="../../codelists/Common_localPublicAuthorities.xml">22</uro:prefecture>
					<uro:city codeSpace="../../codelists/Common_localPublicAuthorities.xml">22102</uro:city>
				</uro:BuildingIDAttribute>
			</uro:buildingIDAttribute>
		</bldg:Building>
	</core:cityObjectMember>
	<core:cityObjectMember>
		<bldg:Building gml:id="bldg_2eb12f7a-c5d9-4145-9609-a6a0f5824368">
			<gen:stringAttribute name="風致地区">
				<gen:value>第1種風致地区（大崩）</gen:value>
			</gen:stringAttribute>
			<bldg:measuredHeight uom="m">15.4</bldg:measuredHeight>
			<bldg:lod0RoofEdge>
				<gml:MultiSurface srsDimension="3" srsName="http://www.opengis.net/def/crs/EPSG/0/6697">
					<gml:surfaceMember>
						<gml:Polygon>
							<gml:exterior>
								<gml:LinearRing>
									<gml:posList>34.90269759041465 138.34941922666175 0 34.9026603967814 138.3494861201664 0 34.9027289703139 138.3495422831235 0 34.90271033298932 138.3495758010683 0 34.90275169006217 138.34960968015335 0 34.90280751204957 138.34950925771975 0 34.90269759041465 138.34941922666175 0</gml:posList>
								</gml:LinearRing>
							</gml:exterior>
						</gml:Polygon>
					</gml:surfaceMember>
				</gml:MultiSurface>
			</bldg:lod0RoofEdge>
			<bldg:lod1Solid>
				<gml:Solid srsDimension="3" srsName="http://www.opengis.net/def/crs/EPSG/0/6697">
					<gml:exterior>
						<gml:CompositeSurface>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90269759041465 138.34941922666175 38.82643 34.90280751204957 138.34950925771975 38.82643 34.90275169006217 138.34960968015335 38.82643 34.90271033298932 138.3495758010683 38.82643 34.9027289703139 138.3495422831235 38.82643 34.9026603967814 138.3494861201664 38.82643 34.90269759041465 138.34941922666175 38.82643</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90269759041465 138.34941922666175 38.82643 34.9026603967814 138.3494861201664 38.82643 34.9026603967814 138.3494861201664 51.21006 34.90269759041465 138.34941922666175 51.21006 34.90269759041465 138.34941922666175 38.82643</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.9026603967814 138.3494861201664 38.82643 34.9027289703139 138.3495422831235 38.82643 34.9027289703139 138.3495422831235 51.21006 34.9026603967814 138.3494861201664 51.21006 34.9026603967814 138.3494861201664 38.82643</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.9027289703139 138.3495422831235 38.82643 34.90271033298932 138.3495758010683 38.82643 34.90271033298932 138.3495758010683 51.21006 34.9027289703139 138.3495422831235 51.21006 34.9027289703139 138.3495422831235 38.82643</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90271033298932 138.3495758010683 38.82643 34.90275169006217 138.34960968015335 38.82643 34.90275169006217 138.34960968015335 51.21006 34.90271033298932 138.3495758010683 51.21006 34.90271033298932 138.3495758010683 38.82643</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90275169006217 138.34960968015335 38.82643 34.90280751204957 138.34950925771975 38.82643 34.90280751204957 138.34950925771975 51.21006 34.90275169006217 138.34960968015335 51.21006 34.90275169006217 138.34960968015335 38.82643</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90280751204957 138.34950925771975 38.82643 34.90269759041465 138.34941922666175 38.82643 34.90269759041465 138.34941922666175 51.21006 34.90280751204957 138.34950925771975 51.21006 34.90280751204957 138.34950925771975 38.82643</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90269759041465 138.34941922666175 51.21006 34.9026603967814 138.3494861201664 51.21006 34.9027289703139 138.3495422831235 51.21006 34.90271033298932 138.3495758010683 51.21006 34.90275169006217 138.34960968015335 51.21006 34.90280751204957 138.34950925771975 51.21006 34.90269759041465 138.34941922666175 51.21006</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
						</gml:CompositeSurface>
					</gml:exterior>
				</gml:Solid>
			</bldg:lod1Solid>
			<uro:buildingDataQualityAttribute>
				<uro:BuildingDataQualityAttribute>
					<uro:srcScale codeSpace="../../codelists/BuildingDataQualityAttribute_srcScale.xml">1</uro:srcScale>
					<uro:lod1HeightType codeSpace="../../codelists/BuildingDataQualityAttribute_lod1HeightType.xml">2</uro:lod1HeightType>
				</uro:BuildingDataQualityAttribute>
			</uro:buildingDataQualityAttribute>
			<uro:buildingDetailAttribute>
				<uro:BuildingDetailAttribute>
					<uro:urbanPlanType codeSpace="../../codelists/Common_urbanPlanType.xml">21</uro:urbanPlanType>
					<uro:surveyYear>2021</uro:surveyYear>
				</uro:BuildingDetailAttribute>
			</uro:buildingDetailAttribute>
			<uro:buildingDisasterRiskAttribute><uro:BuildingLandSlideRiskAttribute><uro:description codeSpace="../../codelists/LandSlideRiskAttribute_description.xml">1</uro:description><uro:areaType codeSpace="../../codelists/LandSlideRiskAttribute_areaType.xml">1</uro:areaType></uro:BuildingLandSlideRiskAttribute></uro:buildingDisasterRiskAttribute><uro:buildingIDAttribute>
				<uro:BuildingIDAttribute>
					<uro:buildingID>22102-bldg-354360</uro:buildingID>
					<uro:prefecture codeSpace="../../codelists/Common_localPublicAuthorities.xml">22</uro:prefecture>
					<uro:city codeSpace="../../codelists/Common_localPublicAuthorities.xml">22102</uro:city>
				</uro:BuildingIDAttribute>
			</uro:buildingIDAttribute>
		</bldg:Building>
	</core:cityObjectMember>
	<core:cityObjectMember>
		<bldg:Building gml:id="bldg_4ee4bc68-d60e-494f-8d4f-57c68f0cb312">
			<gen:stringAttribute name="風致地区">
				<gen:value>第1種風致地区（大崩）</gen:value>
			</gen:stringAttribute>
			<bldg:measuredHeight uom="m">9.7</bldg:measuredHeight>
			<bldg:lod0RoofEdge>
				<gml:MultiSurface srsDimension="3" srsName="http://www.opengis.net/def/crs/EPSG/0/6697">
					<gml:surfaceMember>
						<gml:Polygon>
							<gml:exterior>
								<gml:LinearRing>
									<gml:posList>34.90099366335969 138.3472596029049 0 34.90098448559403 138.34730933048888 0 34.90103964839359 138.34732431775237 0 34.90104882616521 138.34727459013675 0 34.90099366335969 138.3472596029049 0</gml:posList>
								</gml:LinearRing>
							</gml:exterior>
						</gml:Polygon>
					</gml:surfaceMember>
				</gml:MultiSurface>
			</bldg:lod0RoofEdge>
			<bldg:lod1Solid>
				<gml:Solid srsDimension="3" srsName="http://www.opengis.net/def/crs/EPSG/0/6697">
					<gml:exterior>
						<gml:CompositeSurface>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90099366335969 138.3472596029049 69.81293 34.90104882616521 138.34727459013675 69.81293 34.90103964839359 138.34732431775237 69.81293 34.90098448559403 138.34730933048888 69.81293 34.90099366335969 138.3472596029049 69.81293</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90099366335969 138.3472596029049 69.81293 34.90098448559403 138.34730933048888 69.81293 34.90098448559403 138.34730933048888 72.86005999999999 34.90099366335969 138.3472596029049 72.86005999999999 34.90099366335969 138.3472596029049 69.81293</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90098448559403 138.34730933048888 69.81293 34.90103964839359 138.34732431775237 69.81293 34.90103964839359 138.34732431775237 72.86005999999999 34.90098448559403 138.34730933048888 72.86005999999999 34.90098448559403 138.34730933048888 69.81293</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90103964839359 138.34732431775237 69.81293 34.90104882616521 138.34727459013675 69.81293 34.90104882616521 138.34727459013675 72.86005999999999 34.90103964839359 138.34732431775237 72.86005999999999 34.90103964839359 138.34732431775237 69.81293</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90104882616521 138.34727459013675 69.81293 34.90099366335969 138.3472596029049 69.81293 34.90099366335969 138.3472596029049 72.86005999999999 34.90104882616521 138.34727459013675 72.86005999999999 34.90104882616521 138.34727459013675 69.81293</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
							<gml:surfaceMember>
								<gml:Polygon>
									<gml:exterior>
										<gml:LinearRing>
											<gml:posList>34.90099366335969 138.3472596029049 72.86005999999999 34.90098448559403 138.34730933048888 72.86005999999999 34.90103964839359 138.34732431775237 72.86005999999999 34.90104882616521 138.34727459013675 72.86005999999999 34.90099366335969 138.3472596029049 72.86005999999999</gml:posList>
										</gml:LinearRing>
									</gml:exterior>
								</gml:Polygon>
							</gml:surfaceMember>
						</gml:CompositeSurface>
					</gml:exterior>
				</gml:Solid>
			</bldg:lod1Solid>
			<uro:buildingDataQualityAttribute>
				<uro:BuildingDataQualityAttribute>
					<uro:srcScale codeSpace="../../codelists/BuildingDataQualityAttribute_srcScale.xml">1</uro:srcScale>
					<uro:lod1HeightType codeSpace="../../codelists/BuildingDataQualityAttribute_lod1HeightType.xml">2</uro:lod1HeightType>
				</uro:BuildingDataQualityAttribute>
			</uro:buildingDataQualityAttribute>
			<uro:buildingDetailAttribute>
				<uro:BuildingDetailAttribute>
					<uro:urbanPlanType codeSpace="../../codelists/Common_urbanPlanType.xml">21</uro:urbanPlanType>
					<uro:surveyYear>2021</uro:surveyYear>
				</uro:BuildingDetailAttribute>
			</uro:buildingDetailAttribute>
			<uro:buildingDisasterRiskAttribute><uro:BuildingLandSlideRiskAttribute><uro:description codeSpace="../../codelists/LandSlideRiskAttribute_description.xml">1</uro:description><uro:areaType codeSpace="../../codelists/LandSlideRiskAttribute_areaType.xml">1</uro:areaType></uro:BuildingLandSlideRiskAttribute></uro:buildingDisasterRiskAttribute><uro:buildingIDAttribute>
				<uro:BuildingIDAttribute>
					<uro:buildingID>22102-bldg-354361</uro:buildingID>
					<uro:prefecture codeSpace="../../codelists/Common_localPublicAuthorities.xml">22</uro:prefecture>
					<uro:city codeSpace="../../codelists/Common_localPublicAuthorities.xml">22102</uro:city>
				</uro:BuildingIDAttribute>
			</uro:buildingIDAttribute>
		</bldg:Building>
	</core:cityObjectMember>
</core:CityModel>
